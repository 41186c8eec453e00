"""SCIM 2.0 against a real SCIM client library: PyPI `scim2-client` (with `scim2-models`, which
validates every request and answer against RFC 7643/7644), driving the real server binary as an
identity provider would. Usage: check.py BINARY PORT

1. Discovery: ServiceProviderConfig, ResourceTypes and Schemas parse as the library expects, and
   the User model it builds from keyward's schema is what it creates Users with.
2. Create, find by userName, read, replace (PUT), patch `active` off and on, delete.
3. Off means off: a person's key is refused on the request after the PATCH, and works again
   after it is undone; deleted, it stays refused.
4. Refusals are SCIM errors the library reads (scimType, status): a taken userName, an
   unsupported filter, an unknown id.
Exits non-zero on the first broken promise."""

import os
import sys
import time

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import Error, ListResponse, PatchOp, PatchOperation, SearchRequest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "checks"))
from keyward_run import Caller, Run  # noqa: E402

BINARY, PORT = sys.argv[1], int(sys.argv[2])
run = Run(BINARY, PORT, "scim")
check = run.check

run.start()
stamp = time.time_ns()
admin = Caller(run)
admin.call("auth/signup", {"email": f"it-{stamp}@example.com", "password": "scim test password",
                           "account_name": "Provisioned"}, 201)
created = admin.call("account/scim-token", {"default_role": "read_only"}, 201)
base = f"http://127.0.0.1:{PORT}/scim/v2"
check(created["sso"]["scim_endpoint"] == base, f"the endpoint Settings shows: {created['sso']}")

print("1. discovery, as the library reads it")
scim = SyncSCIMClient(Client(base_url=base, headers={"Authorization": f"Bearer {created['token']}"}))
scim.discover()
User = scim.get_resource_model("User")
check(User is not None, "the library built no User model from keyward's schema")
config = scim.provider.config
check(config.patch.supported and not config.bulk.supported and config.filter.supported,
      f"ServiceProviderConfig: {config}")

print("2. create, find, read, replace")
person = scim.create(User(user_name=f"new.hire.{stamp}@example.com", display_name="New Hire",
                          external_id="00u-new"))
check(person.id and person.active is True, f"created: {person}")
check(person.meta.location.endswith(f"/Users/{person.id}"), f"meta.location: {person.meta}")
found = scim.query(User, query_parameters=SearchRequest(filter=f'userName eq "new.hire.{stamp}@example.com"'))
check(isinstance(found, ListResponse) and found.total_results == 1
      and found.resources[0].id == person.id, f"found: {found}")
read = scim.query(User, person.id)
check(read.display_name == "New Hire" and read.external_id == "00u-new", f"read: {read}")
read.display_name = "New Hire (Platform)"
replaced = scim.replace(read)
check(replaced.display_name == "New Hire (Platform)", f"replaced: {replaced}")

print("3. off means off: a person's key")
member_email = f"member-{stamp}@example.com"
invited = admin.call("members/invite", {"email": member_email, "role": "read_write"}, 201)
member = Caller(run)
member.call("invites/accept", {"token": invited["invite_url"].rsplit("/", 1)[1],
                               "password": "scim test password"})
made = member.call("keys/create", {"name": "deploy"}, 201)
key = Caller(run, key=made["secret"])
key.call("auth/me", {})
listed = scim.query(User, query_parameters=SearchRequest(filter=f'userName eq "{member_email}"'))
member_id = listed.resources[0].id


def set_active(active):
    operation = PatchOperation[User](op=PatchOperation.Op.replace_, path="active", value=active)
    return scim.modify(User, member_id, PatchOp[User](operations=[operation]))


off = set_active(False)
check(off is None or off.active is False, f"switched off: {off}")
status, answer = key.call("auth/me", {}, expected=None)
check(status == 401, f"a switched-off person's key answered {status}: {answer}")
on = set_active(True)
check(on is None or on.active is True, f"switched on: {on}")
key.call("auth/me", {})

print("4. refusals the library reads")
taken = scim.create(User(user_name=member_email), raise_scim_errors=False)
check(isinstance(taken, Error) and taken.status == 409 and taken.scim_type == "uniqueness",
      f"a taken userName: {taken}")
unsupported = scim.query(User, query_parameters=SearchRequest(filter='displayName co "Hire"'),
                         raise_scim_errors=False)
check(isinstance(unsupported, Error) and unsupported.scim_type == "invalidFilter",
      f"an unsupported filter: {unsupported}")
unknown = scim.query(User, "usr_nobody", raise_scim_errors=False)
check(isinstance(unknown, Error) and unknown.status == 404, f"an unknown id: {unknown}")

print("5. delete")
scim.delete(User, member_id)
gone = scim.query(User, member_id, raise_scim_errors=False)
check(isinstance(gone, Error) and gone.status == 404, f"after delete: {gone}")
status, _ = key.call("auth/me", {}, expected=None)
check(status == 401, f"a deleted person's key answered {status}")
scim.delete(User, person.id)

run.stop()
print("SCIM with scim2-client: every check passed")
