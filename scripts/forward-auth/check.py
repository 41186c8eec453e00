"""Drives a reverse proxy with keyward's forward auth in front of a small service, as README
"Protect your own API" describes it. Usage: check.py KEYWARD_URL PROXY_URL NAME

Everything a client does goes through the proxy; keyward itself is called only to set things
up (sign up, define permissions, make keys) as an Admin would in the app. Exits non-zero on
the first broken promise."""

import http.client
import json
import sys
import time
import urllib.parse

KEYWARD = urllib.parse.urlparse(sys.argv[1])
PROXY = urllib.parse.urlparse(sys.argv[2])
NAME = sys.argv[3]
PASSWORD = "forward auth password 123"


def check(condition, message):
    if not condition:
        print(f"FAILED ({NAME}): {message}", file=sys.stderr)
        sys.exit(1)


def request(url, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request(method, path, json.dumps(body) if body is not None else None,
                           headers or {})
        response = connection.getresponse()
        text = response.read()
    finally:
        connection.close()
    try:
        payload = json.loads(text) if text else {}
    except ValueError:
        payload = {"raw": text[:200].decode(errors="replace")}
    return response.status, payload, {k.lower(): v for k, v in response.getheaders()}


class Person:
    """Someone using keyward's app: the session cookie it was given."""

    def __init__(self):
        self.cookie = None

    def ok(self, operation, body, expected=200):
        headers = {"content-type": "application/json"}
        if self.cookie:
            headers["cookie"] = self.cookie
        connection = http.client.HTTPConnection(KEYWARD.hostname, KEYWARD.port, timeout=30)
        connection.request("POST", f"/api/v1/{operation}", json.dumps(body), headers)
        response = connection.getresponse()
        payload = json.loads(response.read() or b"{}")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                self.cookie = value.split(";", 1)[0]
        connection.close()
        check(response.status == expected, f"{operation}: {response.status} {payload}")
        return payload

    def key(self, **fields):
        return self.ok("keys/create", {"name": "client", **fields}, 201)["secret"]


def orders(method, key=None):
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return request(PROXY, method, "/orders?page=1", {} if method == "POST" else None, headers)


stamp = f"{NAME}-{time.time_ns()}"
admin = Person()
admin.ok("auth/signup", {"email": f"admin-{stamp}@shop.example", "password": PASSWORD,
                         "account_name": "Shop"}, 201)
for name, role in [("orders:read", "read_only"), ("orders:write", "read_write")]:
    admin.ok("permissions/define", {"name": name, "least_role": role}, 201)
invite = admin.ok("members/invite", {"email": f"member-{stamp}@shop.example",
                                     "role": "read_write"}, 201)
member = Person()
joined = member.ok("invites/accept", {"token": invite["invite_url"].rsplit("/", 1)[1],
                                      "password": PASSWORD})
member_id = joined["user"]["id"]
good = member.key()

# A good key passes, and the service is told whose it is.
status, seen, _ = orders("GET", good)
check(status == 200, f"GET with a good key: {status} {seen}")
check(seen["headers"].get("x-keyward-user-id") == member_id, f"the service was told: {seen}")
check(seen["headers"].get("x-keyward-role") == "read_write", f"role: {seen}")
check(seen["headers"].get("x-keyward-key-id", "").startswith("key_"), f"key id: {seen}")
check(seen["headers"].get("x-keyward-account-id", "").startswith("acc_"), f"account: {seen}")
check("authorization" not in seen["headers"], "the key itself never reaches the service")
status, seen, _ = orders("POST", good)
check(status == 200 and seen["method"] == "POST", f"POST with a Read & write key: {status} {seen}")
print(f"{NAME}: a good key passes, with the owner's id and role for the service")

# Missing and wrong keys.
status, _, headers = orders("GET")
check(status == 401, f"no key: {status}")
check(headers.get("www-authenticate", "").startswith("Bearer"), f"challenge: {headers}")
status, _, _ = orders("GET", "kw_thisisnotakeyatall")
check(status == 401, f"a wrong key: {status}")
status, _, _ = orders("GET", "kw_" + "A" * 38)
check(status == 401, f"a made-up key: {status}")

# Revoked: refused on the very next request.
doomed = member.key()
status, _, _ = orders("GET", doomed)
check(status == 200, f"before revocation: {status}")
doomed_id = [k for k in member.ok("keys/list", {})["keys"] if k["status"] == "active"][0]["id"]
member.ok("keys/revoke", {"key_id": doomed_id})
status, _, _ = orders("GET", doomed)
check(status == 401, f"the very next request after revocation: {status}")

# Expired.
soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
expiring = member.key(expires_at=soon)
time.sleep(2.5)
status, _, _ = orders("GET", expiring)
check(status == 401, f"an expired key: {status}")

# Out of its networks: the client's address is what the proxy saw.
elsewhere = member.key(allowed_cidrs=["10.0.0.0/8"])
status, _, _ = orders("GET", elsewhere)
check(status == 403, f"a key used outside its networks: {status}")
at_home = member.key(allowed_cidrs=["127.0.0.0/8"])
status, _, _ = orders("GET", at_home)
check(status == 200, f"a key used inside its networks: {status}")

# Over its limit: 429 with Retry-After, passed on by the proxy.
limited = member.key(rate_limit_per_minute=2)
statuses = [orders("GET", limited)[0] for _ in range(2)]
status, _, headers = orders("GET", limited)
check(statuses == [200, 200] and status == 429, f"over the limit: {statuses} then {status}")
check(int(headers.get("retry-after", "0")) >= 1, f"Retry-After: {headers}")
print(f"{NAME}: missing, wrong, revoked, expired, out-of-network and over-limit keys are refused")

# A downgrade takes orders:write away at once; orders:read stays.
admin.ok("members/set-role", {"user_id": member_id, "role": "read_only"})
status, _, _ = orders("POST", good)
check(status == 403, f"POST right after a downgrade to Read only: {status}")
status, _, _ = orders("GET", good)
check(status == 200, f"GET after the downgrade: {status}")
# A key granted only orders:read cannot write, whatever its owner's role.
admin_reader = admin.key(permissions=["orders:read"])
status, _, _ = orders("POST", admin_reader)
check(status == 403, f"POST with a key granted orders:read only: {status}")
print(f"{NAME}: a downgrade removes orders:write on the next request; a grant narrows a key")

# Every refusal is in the trail, with the proxied method and URI.
trail = admin.ok("audit/list", {"action": "key.rejected"})
reasons = {event["details"].get("reason") for event in trail["events"]}
for reason in ["revoked", "expired", "outside_networks", "missing_permission"]:
    check(reason in reasons, f"{reason} refusal in the trail: {reasons}")
refusal = next(e for e in trail["events"] if e["details"].get("reason") == "missing_permission")
check(refusal["details"]["shown_to"]["uri"] == "/orders?page=1", f"proxied URI: {refusal}")
print(f"{NAME}: every refusal is in the audit trail with the proxied request")
