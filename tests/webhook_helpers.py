"""A webhook receiver on 127.0.0.1 for the alerting tests: it keeps every JSON body posted
to it, and can answer with an error or too slowly on purpose."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    """What a webhook received, and how it answers."""

    url: str = ""
    status: int = 200
    delay: float = 0.0
    bodies: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, check: Any, seconds: float = 30) -> Any:
        """The first body ``check`` accepts, waiting for it."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                found = [b for b in self.bodies if check(b)]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no such notification; received {self.bodies}")


@contextmanager
def webhook(path: str = "/hook") -> Iterator[Receiver]:
    """A running receiver whose URL ends in ``path``."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            with receiver.lock:
                receiver.bodies.append(body)
            time.sleep(receiver.delay)
            self.send_response(receiver.status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
