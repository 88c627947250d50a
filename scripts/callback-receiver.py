#!/usr/bin/env python3
"""A callback receiver for trying Richmond's HTTP API: answers every POST with 204 and prints
it as one JSON line, {"path": ..., "body": <the JSON body>}, on stdout.

With --reply it is a web application for an http_relay instead: a POST that carries a message
(a Vumi message, or form fields with "content") is answered 200 with "You said: <content>",
which Richmond sends back as the reply; anything else (events) gets 204.

Usage: python3 scripts/callback-receiver.py [HOST:PORT] [--reply]   (default 127.0.0.1:8000)
Only the Python standard library is needed.
"""

import http.server
import json
import sys
import urllib.parse

REPLY = "--reply" in sys.argv[1:]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
            form = dict(urllib.parse.parse_qsl(body))
            body = form if "content" in form else body
        print(json.dumps({"path": self.path, "body": body}), flush=True)
        if REPLY and isinstance(body, dict) and "content" in body:
            answer = f"You said: {body['content'] or ''}".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    args = [a for a in sys.argv[1:] if a != "--reply"]
    host, _, port = (args[0] if args else "127.0.0.1:8000").rpartition(":")
    server = http.server.HTTPServer((host or "127.0.0.1", int(port)), Handler)
    print(json.dumps({"listening": f"{host}:{server.server_port}"}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
