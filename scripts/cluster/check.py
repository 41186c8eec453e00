"""Drives three keyward instances through haproxy and checks what README "Running several
instances" promises. Usage: check.py BALANCER_URL PID_TO_KILL PID_TO_PAUSE PORT_TO_PAUSE PORT

Every request goes through the balancer; its X-Served-By header says which instance answered,
so each check also shows that the requests were spread over all three. Exits non-zero on the
first broken promise."""

import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

BALANCER = urllib.parse.urlparse(sys.argv[1])
VICTIM_PID = int(sys.argv[2])
# The instance paused (SIGSTOP) to show the fallback wait, its port, and another instance's.
PAUSED_PID, PAUSED_PORT, DIRECT_PORT = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
PASSWORD = "cluster password 123"


class Client:
    """One program or browser: an optional key, the session cookie it was given, and the
    loopback address it sends from (127.0.0.0/8 is all this machine)."""

    def __init__(self, source="127.0.0.1", key=None):
        self.source, self.key, self.cookie = source, key, None

    def call(self, operation, body=None, port=None):
        """(status, JSON body, instance that answered); `port`: one instance, not the balancer."""
        connection = http.client.HTTPConnection(
            BALANCER.hostname, port or BALANCER.port, timeout=30, source_address=(self.source, 0)
        )
        headers = {"content-type": "application/json"}
        if self.key:
            headers["authorization"] = f"Bearer {self.key}"
        if self.cookie:
            headers["cookie"] = self.cookie
        try:
            connection.request(
                "POST", f"/api/v1/{operation}", json.dumps(body or {}), headers
            )
            response = connection.getresponse()
            text = response.read()
        finally:
            connection.close()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                self.cookie = value.split(";", 1)[0]
        try:
            payload = json.loads(text) if text else {}
        except ValueError:
            payload = {"raw": text[:200].decode(errors="replace")}
        return response.status, payload, response.getheader("x-served-by")

    def ok(self, operation, body=None, expected=200, port=None):
        status, payload, _ = self.call(operation, body, port)
        check(status == expected, f"{operation}: {status} {payload}")
        return payload


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def spread(instances):
    return ", ".join(f"{name} {count}" for name, count in sorted(instances.items()))


def repeat(client, operation, body, times, expected_status):
    """Sends the same call `times` times; every answer must have `expected_status`. Returns
    how many each instance answered."""
    served = {}
    for n in range(times):
        status, payload, instance = client.call(operation, body)
        check(
            status == expected_status,
            f"{operation} request {n + 1} of {times}, on {instance}: {status} {payload}",
        )
        served[instance] = served.get(instance, 0) + 1
    check(len(served) == 3, f"every instance answered some: {served}")
    return served


started = time.monotonic()
run = str(int(time.time()))
admin = Client()
admin.ok("auth/signup", {"email": f"admin-{run}@example.com", "password": PASSWORD,
                         "account_name": "Cluster"}, 201)

# A session made on one instance works on the others.
served = repeat(admin, "auth/me", {}, 30, 200)
print(f"ok  a session works on every instance: 30 of 30 auth/me answered 200 ({spread(served)})")

# A key revoked through the balancer fails on each of the next 100 requests.
created = admin.ok("keys/create", {"name": "revoked in the cluster"}, 201)
program = Client(key=created["secret"])
# Round-robin: each instance verifies the key twice first, so each has it in memory.
repeat(program, "auth/me", {}, 6, 200)
time.sleep(0.5)  # every instance live (a heartbeat each) before the change
revoking = time.monotonic()
admin.ok("keys/revoke", {"key_id": created["key"]["id"]})
acknowledged_in = time.monotonic() - revoking
served = repeat(program, "auth/me", {}, 100, 401)
print(f"ok  a revoked key fails on the next 100 requests: 100 of 100 answered 401 ({spread(served)})")
# The revocation answered once the two other instances acknowledged, not after the 550 ms wait.
check(acknowledged_in < 0.45, f"the revocation answered after {acknowledged_in:.3f} s")
print(f"ok  the revocation was acknowledged by the other instances in {acknowledged_in * 1000:.0f} ms")

# One instance paused (SIGSTOP): it is live by its heartbeat for up to a window but cannot
# answer, so the writer falls back to the window's wait; resumed, it refuses the key at once.
paused_key = admin.ok("keys/create", {"name": "revoked while one instance sleeps"}, 201)
paused_program = Client(key=paused_key["secret"])
repeat(paused_program, "auth/me", {}, 6, 200)
time.sleep(0.5)
os.kill(PAUSED_PID, signal.SIGSTOP)
revoking = time.monotonic()
admin.ok("keys/revoke", {"key_id": paused_key["key"]["id"]}, port=DIRECT_PORT)
waited = time.monotonic() - revoking
os.kill(PAUSED_PID, signal.SIGCONT)
status, payload, _ = paused_program.call("auth/me", port=PAUSED_PORT)
check(status == 401, f"the resumed instance answered {status} {payload} for the revoked key")
check(waited >= 0.5, f"with one instance paused the revocation answered after {waited:.3f} s")
print(f"ok  with one instance paused the revocation waited {waited * 1000:.0f} ms (the window), "
      f"and the resumed instance refused the key at once")
time.sleep(2)  # haproxy's health checks see the resumed instance up again

# A role downgrade, likewise.
invitation = admin.ok("members/invite", {"email": f"member-{run}@example.com",
                                         "role": "read_write"}, 201)
member = Client()
member_view = member.ok("invites/accept", {"token": invitation["invite_url"].rsplit("/", 1)[1],
                                           "password": PASSWORD})
member_key = Client(key=member.ok("keys/create", {"name": "provisioning"}, 201)["secret"])
new_check = {"name": "homepage", "kind": "api", "url": "https://example.com",
             "frequency_minutes": 5, "activated": True}
member_key.ok("checks/create", new_check, 201)
repeat(member_key, "checks/list", {}, 6, 200)  # in memory on every instance, as above
admin.ok("members/set-role", {"user_id": member_view["user"]["id"], "role": "read_only"})
served = repeat(member_key, "checks/create", new_check, 100, 403)
repeat(member_key, "checks/list", {}, 3, 200)
print(f"ok  after a downgrade to Read only, 100 of 100 checks/create answered 403 ({spread(served)})")

# Sign-in failures spread over the instances are throttled as one: 4 allowed, the 5th blocks.
guesser = Client(source="127.0.0.5")
statuses, instances = [], set()
for _ in range(8):
    status, _, instance = guesser.call("auth/login", {"email": f"admin-{run}@example.com",
                                                      "password": "a wrong password"})
    statuses.append(status)
    instances.add(instance)
check(statuses == [401] * 5 + [429] * 3, f"wrong passwords: {statuses}")
check(len(instances) == 3, f"the guesses reached every instance: {instances}")
print(f"ok  wrong passwords over 3 instances: {statuses} (each instance alone would allow 15)")
# The person, at their own address, still gets in.
Client(source="127.0.0.6").ok("auth/login", {"email": f"admin-{run}@example.com",
                                             "password": PASSWORD})

# A key's own limit counts its requests on every instance.
metered = admin.ok("keys/create", {"name": "metered", "rate_limit_per_minute": 10}, 201)
metered_client = Client(key=metered["secret"])
statuses = [metered_client.call("auth/me")[0] for _ in range(15)]
check(statuses == [200] * 10 + [429] * 5, f"a key allowed 10 a minute: {statuses}")
print(f"ok  a key allowed 10 requests a minute got 10 of 15 across the instances")

# Each instance's last-used buffer reaches the database (every 10 s).
counted = admin.ok("keys/create", {"name": "counted"}, 201)
counted_client = Client(key=counted["secret"])
served = repeat(counted_client, "auth/me", {}, 30, 200)
deadline = time.monotonic() + 25
while True:
    key = admin.ok("keys/get", {"key_id": counted["key"]["id"]})["key"]
    if key["usage_7d"][-1] == 30 and key["last_used_at"]:
        break
    check(time.monotonic() < deadline, f"usage after 25 s: {key['usage_7d']}")
    time.sleep(1)
print(f"ok  30 uses over 3 instances ({spread(served)}) reached the database: today's count 30, "
      f"last used {key['last_used_at']}")

# Killing an instance under write load loses no acknowledged write.
writer_key = admin.ok("keys/create", {"name": "writer"}, 201)["secret"]
acknowledged, refused, lock = [], [], threading.Lock()
stop = threading.Event()


def write(worker):
    client = Client(key=writer_key)
    n = 0
    while not stop.is_set():
        n += 1
        try:
            status, payload, _ = client.call("checks/create", dict(new_check, name=f"w{worker}-{n}"))
        except OSError as error:
            status, payload = None, str(error)
        with lock:
            if status == 201:
                acknowledged.append(payload["check"]["id"])
            else:
                refused.append(status)


writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
for thread in writers:
    thread.start()
time.sleep(2)
print("..  killing instance b (SIGKILL) while 4 writers create checks through the balancer")
os.kill(VICTIM_PID, signal.SIGKILL)
killed_at = len(acknowledged)
time.sleep(3)
stop.set()
for thread in writers:
    thread.join()
stored, cursor = set(), None
while True:
    page = admin.ok("checks/list", {"limit": 200, **({"cursor": cursor} if cursor else {})})
    stored.update(check_view["id"] for check_view in page["checks"])
    cursor = page.get("next_cursor")
    if not cursor:
        break
missing = [check_id for check_id in acknowledged if check_id not in stored]
check(not missing, f"{len(missing)} acknowledged writes are missing: {missing[:5]}")
check(len(acknowledged) > killed_at, "writes went on after the kill")
print(f"ok  instance b killed (SIGKILL) under write load: {len(acknowledged)} writes acknowledged "
      f"({killed_at} before the kill), all {len(acknowledged)} stored; {len(refused)} refused "
      f"({sorted(set(map(str, refused)))})")
status, _, instance = admin.call("auth/me")
check(status == 200, "the two left still answer")
print(f"cluster checks passed in {time.monotonic() - started:.0f} s")
