"""A tiny HTTP server that pods in the process-kubelet tests run.

/ready answers 200 (503 with --unready), /alive 200 until --dead-after seconds,
/env the process environment, /whoami the address it bound.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--host", required=True)
parser.add_argument("--port", type=int, default=8000)
parser.add_argument("--unready", action="store_true")
parser.add_argument("--ignore-sigterm", action="store_true")
parser.add_argument("--dead-after", type=float, default=None)
args = parser.parse_args()
started = time.monotonic()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/ready":
            self._send(503 if args.unready else 200, {"ready": not args.unready})
        elif self.path == "/alive":
            dead = args.dead_after is not None and time.monotonic() - started > args.dead_after
            self._send(500 if dead else 200, {"alive": not dead})
        elif self.path == "/env":
            self._send(200, dict(os.environ))
        elif self.path == "/whoami":
            self._send(200, {"bound": args.host})
        else:
            self._send(404, {})

    def _send(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *a: object) -> None:
        pass


def on_term(signum: int, frame: object) -> None:
    if args.ignore_sigterm:
        print("ignoring SIGTERM", flush=True)
        return
    print("received SIGTERM", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
server = ThreadingHTTPServer((args.host, args.port), Handler)
print(f"serving on {args.host}:{args.port}", flush=True)
server.serve_forever()
