"""Run `mediawatch ARGS` under an attacker's DNS, for tests/hostile/test_rebinding.py.

Each name in $REBIND_NAMES (with or without a trailing dot, any case) answers a public address
the first time it is asked and 127.0.0.1 every time after (TTL 0), the way a rebinding server
does. Nothing leaves 127.0.0.1: a connection to that public address reaches the stand-in server
on $REBIND_PUBLIC_PORT instead. $REBIND_NO_DNS_CACHE=1 turns Scrapy's DNS cache off, so every
connection asks again: the worst case for the guard.
"""

import os
import socket
import sys
import threading
from collections import Counter
from typing import Any

PUBLIC = "93.184.216.34"
NAMES = set(os.environ["REBIND_NAMES"].split(","))
STAND_IN = ("127.0.0.1", int(os.environ["REBIND_PUBLIC_PORT"]))
asked: Counter[str] = Counter()
lock = threading.Lock()
_gethostbyname, _getaddrinfo = socket.gethostbyname, socket.getaddrinfo
_connect_ex = socket.socket.connect_ex


def answer(name: Any) -> str | None:
    host = name.lower().rstrip(".") if isinstance(name, str) else None
    if host not in NAMES:
        return None
    with lock:
        asked[host] += 1
        address = PUBLIC if asked[host] == 1 else "127.0.0.1"
    sys.stderr.write(f"attacker DNS: {name!r} -> {address}\n")
    return address


def gethostbyname(name: str) -> str:
    return answer(name) or _gethostbyname(name)


def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    return _getaddrinfo(answer(host) or host, *args, **kwargs)


def connect_ex(self: socket.socket, address: Any) -> int:
    if isinstance(address, tuple) and address[0] == PUBLIC:
        address = STAND_IN
    return _connect_ex(self, address)


socket.gethostbyname, socket.getaddrinfo = gethostbyname, getaddrinfo
socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]

if __name__ == "__main__":
    if os.environ.get("REBIND_NO_DNS_CACHE") == "1":
        import crawler.settings

        crawler.settings.DNSCACHE_ENABLED = False  # type: ignore[attr-defined]
    from crawler.cli.commands import cli

    cli.main(args=sys.argv[1:], prog_name="mediawatch")
