"""What the end-to-end checks in scripts/ share: the real server binary started on a port and a
data directory of its own, a failed check that stops it and says where its log is, and a caller
of /api/v1 that is a browser (it keeps the session cookie) or a program (it sends a key)."""

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time


class Run:
    """One server process (started again on the same data when a check kills it)."""

    def __init__(self, binary, port, name, environment=None):
        self.binary = binary
        self.port = port
        self.data = tempfile.mkdtemp(prefix=f"keyward-{name}-")
        self.environment = environment or {}
        self.process = None

    def check(self, condition, message):
        """Exits non-zero with `message` unless `condition`; the server is not left running
        (it would send this run's webhook deliveries to the next one)."""
        if not condition:
            if self.process is not None:
                self.process.kill()
            print(f"FAILED: {message}", file=sys.stderr)
            print(f"(keyward's log: {self.data}/keyward.log)", file=sys.stderr)
            sys.exit(1)

    def start(self):
        environment = dict(
            os.environ,
            KEYWARD_DATA_DIR=self.data,
            KEYWARD_SIGNUPS_PER_HOUR="1000",
            LEPTOS_SITE_ADDR=f"127.0.0.1:{self.port}",
            LEPTOS_SITE_ROOT="target/site",
            LEPTOS_OUTPUT_NAME="keyward",
            RUST_LOG="warn",
            **self.environment,
        )
        environment.pop("DATABASE_URL", None)
        probe = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            probe.request("GET", "/healthz")
            self.check(False, f"port {self.port} is taken: another server would answer in keyward's place")
        except OSError:
            pass
        log = open(f"{self.data}/keyward.log", "a")
        self.process = subprocess.Popen([self.binary], env=environment, stdout=log, stderr=log)
        for _ in range(300):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return self.process
            except OSError:
                time.sleep(0.1)
        self.check(False, "keyward did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class Caller:
    """A person in a browser (the session cookie sign-up or an invite gave), or a key."""

    def __init__(self, run, key=None):
        self.run = run
        self.cookie = None
        self.key = key

    def call(self, operation, body, expected=200):
        """Calls `operation`; checks its status unless `expected` is None. Answers the JSON body
        (and, with `expected=None`, the status first)."""
        headers = {"content-type": "application/json"}
        if self.cookie:
            headers["cookie"] = self.cookie
        if self.key:
            headers["authorization"] = f"Bearer {self.key}"
        connection = http.client.HTTPConnection("127.0.0.1", self.run.port, timeout=30)
        connection.request("POST", f"/api/v1/{operation}", json.dumps(body), headers)
        response = connection.getresponse()
        payload = json.loads(response.read() or b"{}")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith("keyward"):
                self.cookie = value.split(";", 1)[0]
        connection.close()
        if expected is None:
            return response.status, payload
        self.run.check(response.status == expected, f"{operation}: {response.status} {payload}")
        return payload
