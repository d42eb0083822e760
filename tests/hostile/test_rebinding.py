"""DNS rebinding: a name that answers a public address when the guard asks and 127.0.0.1 when
the connection asks must never reach this machine, in a crawl (tests/hostile/rebinding_dns.py
plays the attacker's DNS in a real `mediawatch crawl`) or in `rules explain` / `outlets check`.
"""

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from crawler.cli.webfetch import Fetch
from crawler.demo.site import FixtureSite, Page, rss
from spiders.addresses import NetworkPolicy, RefusedURL
from tests.conftest import cli_json, write_config
from tests.hostile.test_network import ADMIN_PAGE, good
from tests.site import article

HELPER = Path(__file__).with_name("rebinding_dns.py")
PUBLIC = "93.184.216.34"


def feed(items: list[str], now: datetime) -> Page:
    """An RSS feed linking to exactly these URLs, newest first."""
    links = [article(url, "A link", i + 1, ["x"], now) for i, url in enumerate(items)]
    return Page(rss("Rebind", "", links).encode(), content_type="application/rss+xml")


def crawl(tmp: Path, name: str, sites: dict[str, FixtureSite], cache: bool) -> dict[str, Any]:
    """One `mediawatch crawl` under the attacker's DNS; its JSON summary and stored URLs."""
    site, stand_in = sites["site"], sites["public"]
    config = write_config(
        tmp / f"{name}.toml",
        {
            "database": {"url": f"sqlite:///{tmp / name}.db"},
            "crawl": {"download_delay": 0, "retries": 0, "timeout": "5s", "obey_robots": False},
            "catalogue": {"include": []},
            "outlets": [
                {
                    "id": "rebind",
                    "name": "Rebind",
                    "feeds": [site.url("/feed.xml")],
                    "hosts": ["rebind.test", "multi.test"],
                }
            ],
        },
    )
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "REBIND_NAMES": "rebind.test,multi.test",
        "REBIND_PUBLIC_PORT": str(stand_in.base.rsplit(":", 1)[1]),
        "REBIND_NO_DNS_CACHE": "0" if cache else "1",
    }
    env.pop("MEDIAWATCH_CONFIG", None)
    command = [sys.executable, str(HELPER), "--config", str(config)]
    done = subprocess.run(
        [*command, "crawl", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "attacker DNS" in done.stderr  # the simulation was in the path
    summary = json.loads(done.stdout)["outlets"][0]
    found = cli_json("--config", str(config), "search", "--format", "json")
    summary["stored"] = {a["url"]: a["title"] for a in found}
    return summary


@pytest.fixture(scope="module")
def sites() -> Iterator[dict[str, FixtureSite]]:
    now = datetime.now(UTC).replace(microsecond=0)
    made = {k: FixtureSite().start() for k in ("site", "private", "private2", "public")}
    site, private, private2, public = (made[k] for k in ("site", "private", "private2", "public"))
    for server in (private, private2):
        for path in ("/dot", "/a", "/b"):
            server.add(path, Page(ADMIN_PAGE))
    for path in ("/dot", "/a", "/b"):
        public.add_article(good(path, now, f"Public piece {path[1:]}"), "Rebind")
    site.add_article(good("/good", now, "Rebind good piece"), "Rebind")
    p1 = private.base.rsplit(":", 1)[1]
    p2 = private2.base.rsplit(":", 1)[1]
    items = [
        site.url("/good"),
        f"http://rebind.test.:{p1}/dot",  # checked as rebind.test, connected as rebind.test.
        f"http://multi.test:{p1}/a",  # two ports: two checks of one name
        f"http://multi.test:{p2}/b",
    ]
    site.add("/feed.xml", feed(items, now))
    yield made
    for server in made.values():
        server.stop()


def private_requests(sites: dict[str, FixtureSite]) -> int:
    return sum(sites["private"].requests.values()) + sum(sites["private2"].requests.values())


def test_rebinding_names_never_reach_the_private_servers(
    sites: dict[str, FixtureSite], tmp_path: Path
) -> None:
    # Scrapy's DNS cache on (the default): the trailing-dot name connects to the very answer
    # it was checked with; the second port's check asks again, gets 127.0.0.1, is refused.
    cached = crawl(tmp_path, "cached", sites, cache=True)
    assert private_requests(sites) == 0
    assert set(cached["error_kinds"]) == {"refused"}, cached
    assert cached["error_kinds"]["refused"] >= 1
    assert sites["public"].fetch_count("/dot") == 1
    assert "Internal admin" not in " ".join(cached["stored"].values())
    assert sites["site"].url("/good") in cached["stored"]

    # Cache off: every connection asks again and is answered 127.0.0.1. The resolver refuses
    # it where the connection's address is chosen, and the run counts it as refused, not dns.
    public_before = sum(sites["public"].requests.values())
    uncached = crawl(tmp_path, "uncached", sites, cache=False)
    assert private_requests(sites) == 0
    assert uncached["error_kinds"] == {"refused": 3}, uncached
    assert sum(sites["public"].requests.values()) == public_before
    assert list(uncached["stored"]) == [sites["site"].url("/good")]


# `rules explain URL` and `outlets check`: Fetch, in this process, under the same DNS.


class Recorder(ThreadingHTTPServer):
    """A local server recording (path, Host header); /hop redirects to hop.test."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.hop_to = ""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.seen.append((self.path, self.headers.get("Host", "")))
                if self.path == "/hop":
                    self.send_response(302)
                    self.send_header("Location", server.hop_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b"<html><body><p>Inside page</p></body></html>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Recorder, Recorder]]:
    """(public stand-in, private server) under DNS answering public once, then 127.0.0.1."""
    public, private = Recorder(), Recorder()
    asked: dict[str, int] = {}
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.lower().rstrip(".") if isinstance(host, str) else host
        if name in ("rebind.test", "hop.test"):
            asked[name] = asked.get(name, 0) + 1
            host = PUBLIC if asked[name] == 1 else "127.0.0.1"
        elif name == "evil.test":
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        if address[0] == PUBLIC:  # nothing leaves 127.0.0.1: the stand-in plays the public host
            address = ("127.0.0.1", public.port)
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    yield public, private
    public.shutdown()
    private.shutdown()


def test_fetch_connects_to_the_address_it_checked_on_every_hop(
    servers: tuple[Recorder, Recorder],
) -> None:
    public, private = servers
    public.hop_to = f"http://hop.test:{private.port}/inside"
    with Fetch(NetworkPolicy()).open(f"http://rebind.test:{private.port}/hop", {}, 5) as r:
        assert b"Inside page" in r.read()
    assert private.seen == []
    # The name stays in the Host header (and would be TLS's SNI and certificate name).
    assert public.seen == [
        ("/hop", f"rebind.test:{private.port}"),
        ("/inside", f"hop.test:{private.port}"),
    ]


def test_fetch_refuses_a_name_answering_a_private_address(
    servers: tuple[Recorder, Recorder],
) -> None:
    public, private = servers
    with pytest.raises(RefusedURL, match="loopback"):
        Fetch(NetworkPolicy()).open(f"http://evil.test:{private.port}/", {}, 5)
    public.hop_to = f"http://evil.test:{private.port}/inside"
    with pytest.raises(RefusedURL, match="loopback"):
        Fetch(NetworkPolicy()).open(f"http://rebind.test:{public.port}/hop", {}, 5)
    assert private.seen == []


def test_fetch_ignores_proxies_from_the_environment(
    servers: tuple[Recorder, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    public, private = servers
    proxy = f"http://127.0.0.1:{private.port}"
    for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(variable, proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    source = f"http://127.0.0.1:{public.port}/page"
    with Fetch(NetworkPolicy.for_sources([source])).open(source, {}, 5) as r:
        assert r.status == 200
    assert private.seen == []
    assert public.seen == [("/page", f"127.0.0.1:{public.port}")]
