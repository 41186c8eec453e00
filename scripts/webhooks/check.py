"""Webhooks end to end, against the real server binary and a receiver that verifies with the
official Standard Webhooks library. Usage: check.py BINARY PORT

1. Every event committed from an endpoint's creation on (its own included) arrives once, verified, with its chain
   position, and exactly as `audit/list` shows it; a test event arrives too.
2. A secret rotation: deliveries carry signatures that the old AND the new secret verify.
3. kill -9: the receiver is down, a key is created (committed), keyward is killed at once with
   SIGKILL and started again on the same database; the event then arrives, once.
Exits non-zero on the first broken promise."""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from receiver import Receiver

BINARY, PORT = sys.argv[1], int(sys.argv[2])
RECEIVER_PORT = PORT + 1
DATA = tempfile.mkdtemp(prefix="keyward-webhooks-")
keyward = None


def check(condition, message):
    if not condition:
        if keyward is not None:
            keyward.kill()  # not left running to send this run's deliveries to the next one
        print(f"FAILED: {message}", file=sys.stderr)
        print(f"(keyward's log: {DATA}/keyward.log)", file=sys.stderr)
        sys.exit(1)


def start_keyward():
    environment = dict(
        os.environ,
        KEYWARD_DATA_DIR=DATA,
        KEYWARD_SIGNUPS_PER_HOUR="1000",
        KEYWARD_WEBHOOKS_ALLOW_PRIVATE="1",
        # Retries a second apart: the test waits for them, not for the production day.
        KEYWARD_WEBHOOK_RETRIES="1,1,1,1,1,1,1,1,1,1",
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


class Admin:
    """An Admin in a browser: the session cookie sign-up gave."""

    def __init__(self):
        self.cookie = None

    def call(self, operation, body, expected=200):
        headers = {"content-type": "application/json"}
        if self.cookie:
            headers["cookie"] = self.cookie
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        connection.request("POST", f"/api/v1/{operation}", json.dumps(body), headers)
        response = connection.getresponse()
        payload = json.loads(response.read() or b"{}")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith("keyward"):
                self.cookie = value.split(";", 1)[0]
        connection.close()
        check(response.status == expected, f"{operation}: {response.status} {payload}")
        return payload

    def events(self):
        return self.call("audit/list", {"limit": 200})["events"]


def wait_for(receiver, condition, what, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition(receiver.deliveries()):
            return
        time.sleep(0.05)
    check(False, f"{what}: received {[d['webhook_id'] for d in receiver.deliveries()]}")


def all_verified(deliveries):
    for delivery in deliveries:
        check(delivery["verified"], f"delivery {delivery['webhook_id']} did not verify: "
                                    f"{delivery['failures']}")


keyward = start_keyward()
receiver = Receiver(RECEIVER_PORT)
receiver.start()
admin = Admin()
admin.call("auth/signup", {"email": f"admin-{time.time_ns()}@example.com",
                           "password": "webhook test password", "account_name": "Hooks"}, 201)
before = {event["id"] for event in admin.events()}

print("1. every committed event arrives once, verified, as audit/list shows it")
created = admin.call("webhooks/create", {"url": f"http://127.0.0.1:{RECEIVER_PORT}/hook",
                                         "events": ["*"], "description": "SIEM"}, 201)
check(created["secret"].startswith("whsec_"), "the secret is a whsec_ secret")
receiver.secrets = [created["secret"]]
webhook_id = created["webhook"]["id"]
keys = [admin.call("keys/create", {"name": f"ci {n}"}, 201)["key"]["id"] for n in range(3)]
admin.call("keys/revoke", {"key_id": keys[0]})
check_id = admin.call("checks/create", {"name": "Shop", "kind": "api", "url": "https://shop.example",
                                        "frequency_minutes": 5, "activated": True}, 201)["check"]["id"]
admin.call("checks/update", {"check_id": check_id, "frequency_minutes": 10})
expected = [event for event in admin.events() if event["id"] not in before]
check(sorted(e["action"] for e in expected) == sorted(
    ["webhook.created", "key.created", "key.created", "key.created", "key.revoked", "check.created",
     "check.updated"]), f"the endpoint's own creation and six changes: {[e['action'] for e in expected]}")
wait_for(receiver, lambda got: {d["webhook_id"] for d in got} >= {e["id"] for e in expected},
         "every event is delivered")
time.sleep(1.5)  # a duplicate would arrive by now: retries are a second apart here
got = receiver.deliveries()
all_verified(got)
check(len(got) == len(expected), f"each event once: {len(got)} deliveries for {len(expected)} events")
by_id = {d["webhook_id"]: d["payload"] for d in got}
for event in expected:
    body = by_id[event["id"]]
    check(body["type"] == event["action"], f"type {body['type']} for {event['action']}")
    check(body["data"] == event, f"the body carries the event as audit/list shows it: {body['data']}")
seqs = sorted(by_id[event["id"]]["chain"]["seq"] for event in expected)
check(seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"chain positions follow each other: {seqs}")
admin.call("webhooks/test", {"webhook_id": webhook_id}, 202)
wait_for(receiver, lambda got: any(d["payload"]["type"] == "webhook.test" for d in got), "the test event")
all_verified(receiver.deliveries())
print(f"   {len(expected)} events and a test event, all verified by standardwebhooks")

print("2. a rotation: the old and the new secret both verify what is sent during the overlap")
rotated = admin.call("webhooks/rotate-secret", {"webhook_id": webhook_id})
check(rotated["secret"] != created["secret"], "a new secret")
receiver.secrets = [created["secret"], rotated["secret"]]
seen = len(receiver.deliveries())
admin.call("keys/revoke", {"key_id": keys[1]})
wait_for(receiver, lambda got: len(got) >= seen + 2, "the rotation's event and the revocation's")
fresh = receiver.deliveries()[seen:]
all_verified(fresh)
check(all(d["signatures"] == 2 for d in fresh), "two signatures during the overlap")
receiver.secrets = [rotated["secret"]]
print("   verified with each secret alone")

print("3. kill -9 between a change and its delivery: delivered once after the restart")
receiver.stop()
key = admin.call("keys/create", {"name": "made before the crash"}, 201)["key"]["id"]
keyward.send_signal(signal.SIGKILL)
keyward.wait()
receiver = Receiver(RECEIVER_PORT)
receiver.secrets = [rotated["secret"]]
receiver.start()
keyward = start_keyward()
made = [e for e in admin.events() if e["action"] == "key.created" and e["target"]["id"] == key]
check(len(made) == 1, "the key's creation was committed before the kill")
wait_for(receiver, lambda got: any(d["webhook_id"] == made[0]["id"] for d in got),
         "the event committed before the kill")
time.sleep(2.5)
copies = [d for d in receiver.deliveries() if d["webhook_id"] == made[0]["id"]]
all_verified(copies)
check(len(copies) == 1, f"delivered once, not {len(copies)} times")
print("   delivered once after the restart")

keyward.terminate()
keyward.wait()
print("webhooks: all checks passed")
