"""A sign-in storm: wrong passwords for unknown emails from many loopback addresses at once.

Each client address (127.0.1.1, 127.0.1.2, …) keeps CONNECTIONS kept-alive connections busy
posting auth/login. Every attempt costs the server one argon2 verification until that address is
throttled. Runs until killed; prints the answers it got per status on exit (SIGTERM/SIGINT).
Usage: python3 storm.py HOST PORT ADDRESSES CONNECTIONS
"""
import asyncio
import json
import random
import signal
import sys
from collections import Counter

host, port, addresses, connections = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
answers = Counter()


async def client(source: str) -> None:
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
            while True:
                body = json.dumps({"email": f"nobody{random.randrange(10**9)}@example.com", "password": "wrong password 1"})
                writer.write(
                    (f"POST /api/v1/auth/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
                )
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                answers[status] += 1
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            await asyncio.sleep(0.1)


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(client(f"127.0.{1 + n // 250}.{1 + n % 250}"))
        for n in range(addresses)
        for _ in range(connections)
    ]
    await stop.wait()
    for task in tasks:
        task.cancel()
    print("storm answers by status:", dict(sorted(answers.items())), flush=True)


asyncio.run(main())
