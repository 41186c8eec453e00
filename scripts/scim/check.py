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

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import Error, ListResponse, PatchOp, PatchOperation, SearchRequest

BINARY, PORT = sys.argv[1], int(sys.argv[2])
DATA = tempfile.mkdtemp(prefix="keyward-scim-")
keyward = None


def check(condition, message):
    if not condition:
        if keyward is not None:
            keyward.kill()
        print(f"FAILED: {message}", file=sys.stderr)
        print(f"(keyward's log: {DATA}/keyward.log)", file=sys.stderr)
        sys.exit(1)


def start_keyward():
    environment = dict(
        os.environ,
        KEYWARD_DATA_DIR=DATA,
        KEYWARD_SIGNUPS_PER_HOUR="1000",
        LEPTOS_SITE_ADDR=f"127.0.0.1:{PORT}",
        LEPTOS_SITE_ROOT="target/site",
        LEPTOS_OUTPUT_NAME="keyward",
        RUST_LOG="warn",
    )
    environment.pop("DATABASE_URL", None)
    probe = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
    try:
        probe.request("GET", "/healthz")
        check(False, f"port {PORT} is taken: another server would answer in keyward's place")
    except OSError:
        pass
    log = open(f"{DATA}/keyward.log", "a")
    process = subprocess.Popen([BINARY], env=environment, stdout=log, stderr=log)
    for _ in range(300):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    check(False, "keyward did not start")


class Browser:
    """A person in a browser: the session cookie sign-up or an invite gave; or a key."""

    def __init__(self, key=None):
        self.cookie = None
        self.key = key

    def call(self, operation, body, expected=200):
        headers = {"content-type": "application/json"}
        if self.cookie:
            headers["cookie"] = self.cookie
        if self.key:
            headers["authorization"] = f"Bearer {self.key}"
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        connection.request("POST", f"/api/v1/{operation}", json.dumps(body), headers)
        response = connection.getresponse()
        payload = json.loads(response.read() or b"{}")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith("keyward"):
                self.cookie = value.split(";", 1)[0]
        connection.close()
        if expected is not None:
            check(response.status == expected, f"{operation}: {response.status} {payload}")
        return response.status, payload


keyward = start_keyward()
stamp = time.time_ns()
admin = Browser()
admin.call("auth/signup", {"email": f"it-{stamp}@example.com", "password": "scim test password",
                           "account_name": "Provisioned"}, 201)
_, created = admin.call("account/scim-token", {"default_role": "read_only"}, 201)
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
_, invited = admin.call("members/invite", {"email": member_email, "role": "read_write"}, 201)
member = Browser()
member.call("invites/accept", {"token": invited["invite_url"].rsplit("/", 1)[1],
                               "password": "scim test password"})
_, made = member.call("keys/create", {"name": "deploy"}, 201)
key = Browser(key=made["secret"])
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

keyward.terminate()
keyward.wait(timeout=10)
print("SCIM with scim2-client: every check passed")
