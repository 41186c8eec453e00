"""Webhook delivery delay under load. Usage: delay.py URL COOKIE SECONDS CLIENTS RECEIVER_PORT

An Admin's session (COOKIE, `name=value`) makes an endpoint for check.* events pointing at a
receiver in a process of its own (which verifies each delivery with the official library, as a
real one would, after noting when it arrived). Then CLIENTS connections update one check as fast
as they can for SECONDS, each update an audited event; afterwards the receiver must have every
event. The delay of a delivery is its arrival minus the event's recorded time: the time is taken
before the change commits, so this is an upper bound of commit → received."""

import http.client
import json
import multiprocessing
import sys
import threading
import time
import urllib.parse
from datetime import datetime

from receiver import Receiver

URL = urllib.parse.urlparse(sys.argv[1])
COOKIE, SECONDS, CLIENTS, RECEIVER_PORT = sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])


def receive(port, secrets, results, stop, counted):
    receiver = Receiver(port)
    receiver.secrets = secrets
    receiver.start()
    while not stop.wait(0.05):
        counted.value = len({d["webhook_id"] for d in receiver.deliveries()})
    results.put([(d["arrived"], d["webhook_id"], d["verified"], d["payload"]["timestamp"])
                 for d in receiver.deliveries()])


def call(connection, operation, body):
    connection.request("POST", f"/api/v1/{operation}", json.dumps(body),
                       {"content-type": "application/json", "cookie": COOKIE})
    response = connection.getresponse()
    payload = json.loads(response.read() or b"{}")
    if response.status >= 300:
        sys.exit(f"{operation}: {response.status} {payload}")
    return payload


def connect():
    return http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)


setup = connect()
created = call(setup, "webhooks/create", {"url": f"http://127.0.0.1:{RECEIVER_PORT}/hook",
                                          "events": ["check.*"], "description": "delay bench"})
results, stop, counted = multiprocessing.Queue(), multiprocessing.Event(), multiprocessing.Value("i", 0)
receiver = multiprocessing.Process(target=receive, args=(RECEIVER_PORT, [created["secret"]], results, stop, counted))
receiver.start()
time.sleep(0.5)
check_id = call(setup, "checks/create", {"name": "Bench", "kind": "api", "url": "https://bench.example",
                                         "frequency_minutes": 5, "activated": True})["check"]["id"]
updates = [0] * CLIENTS


def client(n):
    connection = connect()
    deadline = time.time() + SECONDS
    while time.time() < deadline:
        call(connection, "checks/update", {"check_id": check_id, "frequency_minutes": 1 + updates[n] % 60})
        updates[n] += 1


threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
expected = 1 + sum(updates)  # the check's creation, then every update
# Wait until the receiver has every event (at most two minutes), noting how long the backlog
# took to drain once the load stopped.
load_ended = time.time()
deadline = load_ended + 120
while time.time() < deadline and counted.value < expected:
    time.sleep(0.05)
drained = time.time() - load_ended
stop.set()
received = results.get()
receiver.join()

delays = sorted((arrived - datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()) * 1000
                for arrived, _, _, timestamp in received)
unique = {webhook_id for _, webhook_id, _, _ in received}
if len(unique) < expected or not all(verified for _, _, verified, _ in received):
    sys.exit(f"received {len(unique)} distinct verified events of {expected} "
             f"in the {drained:.0f} s after the load")


def percentile(fraction):
    return delays[min(len(delays) - 1, int(fraction * len(delays)))]


print(f"{expected} events in {SECONDS:.0f} s from {CLIENTS} clients ({expected / SECONDS:.0f}/s), "
      f"{len(received)} deliveries ({len(received) - len(unique)} repeated), all verified, "
      f"the last {drained:.1f} s after the load ended")
print(f"delay event -> received: p50 {percentile(0.50):.1f} ms, p99 {percentile(0.99):.1f} ms, "
      f"max {delays[-1]:.1f} ms")
