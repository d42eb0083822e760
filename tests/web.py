"""Talking to a real `mediawatch web` from tests: start one, and send it any request."""

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import wait_until
from tests.smtp import free_port


def http_request(
    url: str,
    headers: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    method: str = "GET",
    timeout: float = 30,
) -> tuple[int, Any, bytes]:
    """One HTTP request with any headers (an explicit Host included): status, headers, body."""
    request = urllib.request.Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def answers(url: str) -> bool:
    """Whether `url` answers 200 (False while the server is still starting)."""
    try:
        return http_request(url, timeout=10)[0] == 200
    except OSError:
        return False


@contextmanager
def web_server(
    config: Path, log: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[str]:
    """`mediawatch web` in its own process on a free port, once /healthz answers; its base URL.

    Its stderr goes to `log` when given, to explain a failure."""
    port = free_port()
    with log.open("ab") if log else open(os.devnull, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler", "--config", str(config), "web", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, **(env or {})},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(f"{base}/healthz to answer", lambda: answers(base + "/healthz"), 30)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
