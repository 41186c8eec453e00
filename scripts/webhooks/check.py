"""Webhooks end to end, against the real server binary and a receiver that verifies with the
official Standard Webhooks library. Usage: check.py BINARY PORT

1. Every event committed from an endpoint's creation on (its own included) arrives once, verified, with its chain
   position, and exactly as `audit/list` shows it; a test event arrives too.
2. A secret rotation: deliveries carry signatures that the old AND the new secret verify.
3. kill -9: the receiver is down, a key is created (committed), keyward is killed at once with
   SIGKILL and started again on the same database; the event then arrives, once.
Exits non-zero on the first broken promise."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "checks"))
from keyward_run import Caller, Run  # noqa: E402
from receiver import Receiver  # noqa: E402

BINARY, PORT = sys.argv[1], int(sys.argv[2])
RECEIVER_PORT = PORT + 1
run = Run(BINARY, PORT, "webhooks", {
    "KEYWARD_WEBHOOKS_ALLOW_PRIVATE": "1",
    # Retries a second apart: the test waits for them, not for the production day.
    "KEYWARD_WEBHOOK_RETRIES": "1,1,1,1,1,1,1,1,1,1",
})
check = run.check


class Admin(Caller):
    """An Admin in a browser: the session cookie sign-up gave."""

    def __init__(self):
        super().__init__(run)

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


run.start()
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
run.process.send_signal(signal.SIGKILL)
run.process.wait()
receiver = Receiver(RECEIVER_PORT)
receiver.secrets = [rotated["secret"]]
receiver.start()
run.start()
made = [e for e in admin.events() if e["action"] == "key.created" and e["target"]["id"] == key]
check(len(made) == 1, "the key's creation was committed before the kill")
wait_for(receiver, lambda got: any(d["webhook_id"] == made[0]["id"] for d in got),
         "the event committed before the kill")
time.sleep(2.5)
copies = [d for d in receiver.deliveries() if d["webhook_id"] == made[0]["id"]]
all_verified(copies)
check(len(copies) == 1, f"delivered once, not {len(copies)} times")
print("   delivered once after the restart")

run.stop()
print("webhooks: all checks passed")
