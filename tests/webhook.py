"""A local webhook (HTTP on 127.0.0.1) for Apprise's json:// channel, told what to answer."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Webhook:
    """A local HTTP endpoint answering POSTs with scripted status codes (then 200)."""

    def __init__(self, codes: list[int] | None = None) -> None:
        self.codes = list(codes or [])
        self.requests: list[tuple[int, dict[str, Any]]] = []  # (status answered, JSON body)
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = hook.codes.pop(0) if hook.codes else 200
                hook.requests.append((status, json.loads(body or b"{}")))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    @property
    def delivered(self) -> list[dict[str, Any]]:
        return [body for status, body in self.requests if status == 200]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
