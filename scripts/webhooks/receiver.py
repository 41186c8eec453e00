"""A webhook receiver as a customer would write one: every delivery is verified with the
official Standard Webhooks library (PyPI `standardwebhooks`), never with keyward's code.

`Receiver(port)` serves in a thread. `secrets` holds the secrets the receiver knows: a delivery
counts as verified only when EVERY one of them verifies it (during a rotation's overlap both the
old and the new secret must). Each delivery is recorded with the moment it arrived; `answer`
is the HTTP status it replies with (a receiver that is down can be `stop()`ped instead)."""

import http.server
import json
import threading
import time

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    def __init__(self, port):
        self.port = port
        self.secrets = []
        self.answer = 204
        self.received = []
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {name: value for name, value in self.headers.items()}
                failures = []
                for secret in list(receiver.secrets):
                    try:
                        Webhook(secret).verify(body, headers)
                    except WebhookVerificationError as error:
                        failures.append(str(error))
                payload = json.loads(body)
                with receiver.lock:
                    receiver.received.append({
                        "arrived": arrived,
                        "webhook_id": headers.get("webhook-id") or headers.get("Webhook-Id"),
                        "verified": bool(receiver.secrets) and not failures,
                        "failures": failures,
                        "signatures": len((self.headers.get("webhook-signature") or "").split()),
                        "payload": payload,
                    })
                self.send_response(receiver.answer)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            # keyward sends up to 20 deliveries at once: with the default backlog of 5, the
            # kernel drops the other connections' SYNs and they are retried a second later.
            request_queue_size = 128

        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def deliveries(self):
        with self.lock:
            return list(self.received)
