"""Makes COUNT calls to URL+PATH over one kept-alive connection: a POST {} with the bearer KEY
under /api/, else a GET. Fails on any answer but 200. Usage: calls.py URL PATH KEY COUNT"""
import http.client
import sys
from urllib.parse import urlsplit

url, path, key, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
address = urlsplit(url)
connection = http.client.HTTPConnection(address.hostname, address.port)
for _ in range(count):
    if path.startswith("/api/"):
        connection.request("POST", path, body="{}", headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    else:
        connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"{path} answered {response.status}")
