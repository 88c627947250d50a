#!/usr/bin/env python3
"""A callback receiver for trying Richmond's HTTP API: answers every POST with 204 and prints
it as one JSON line, {"path": ..., "body": <the JSON body>}, on stdout.

Usage: python3 scripts/callback-receiver.py [HOST:PORT]   (default 127.0.0.1:8000)
Only the Python standard library is needed.
"""

import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        print(json.dumps({"path": self.path, "body": body}), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    host, _, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8000").rpartition(":")
    server = http.server.HTTPServer((host or "127.0.0.1", int(port)), Handler)
    print(json.dumps({"listening": f"{host}:{server.server_port}"}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
