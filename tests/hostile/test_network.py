"""The network guard: feeds, sitemaps and redirects that point at this machine, its private
network, local files or other sites are refused and counted, through real `mediawatch crawl`s.

A second local server stands for the machine's private services (an admin page): it is not a
configured source, so with the default configuration it must see no request at all.
"""

import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crawler.demo.site import DemoArticle, FixtureSite, Page, rss
from spiders.addresses import NetworkPolicy, RefusedURL, address_class
from tests.conftest import cli_json, run_cli, write_config
from tests.site import FILLER, article

ADMIN_PAGE = (
    b"<html><head><title>Internal admin: CISMOA</title></head><body><article><h1>Internal "
    b"admin</h1><p>" + (b"CISMOA renewal secrets for the admin only. " * 20) + b"</p>"
    b"</article></body></html>"
)


def good(path: str, now: datetime, title: str) -> DemoArticle:
    """An ordinary article every outlet also serves: it must be stored whatever else happens."""
    text = f"{title}. Pakistan and the United States discussed CISMOA again. " + FILLER * 3
    return article(path, title, 1, [text], now)


def link(url: str, now: datetime) -> DemoArticle:
    return article(url, "A link", 1, ["x"], now)


def feed_page(items: list[DemoArticle]) -> Page:
    """An RSS feed whose links are exactly the items' paths (absolute URLs, other schemes)."""
    return Page(rss("Net", "", items).encode(), content_type="application/rss+xml")


@dataclass
class Net:
    """The fixture site (a configured source), the private server, and both crawls' results."""

    site: FixtureSite
    private: FixtureSite
    now: datetime
    tmp: Path
    guarded: dict[str, Any] | None = None
    allowed: dict[str, Any] | None = None
    private_requests_when_guarded: int = -1
    site_requests_when_guarded: dict[str, int] = field(default_factory=dict)

    def config(self, name: str, outlets: list[dict[str, Any]], **crawl: Any) -> Path:
        return write_config(
            self.tmp / f"{name}.toml",
            {
                "database": {"url": f"sqlite:///{self.tmp / name}.db"},
                "crawl": {"download_delay": 0, "retries": 0, "timeout": "5s", **crawl},
                "catalogue": {"include": []},
                "outlets": outlets,
            },
        )

    def private_url(self, path: str, host: str = "127.0.0.1") -> str:
        return self.private.url(path).replace("127.0.0.1", host)


def build(tmp: Path) -> Net:
    now = datetime.now(UTC).replace(microsecond=0)
    site, private = FixtureSite().start(), FixtureSite().start()
    net = Net(site, private, now, tmp)
    private.add("/internal-admin", Page(ADMIN_PAGE))
    private.add("/sitemap.xml", Page(b"<urlset/>", content_type="application/xml"))
    private_admin = net.private_url("/internal-admin?do=delete", "localhost")

    # Feed items that point away from the outlet's own site or at no web page at all.
    site.add_article(good("/net/good", now, "Feed good piece"), "Net")
    site.add(
        "/net/to-private", Page(b"", 302, headers={"Location": net.private_url("/internal-admin")})
    )
    site.add("/net/to-file", Page(b"", 302, headers={"Location": "file:///etc/passwd"}))
    site.add("/net/loop-a", Page(b"", 302, headers={"Location": "/net/loop-b"}))
    site.add("/net/loop-b", Page(b"", 302, headers={"Location": "/net/loop-a"}))
    feed = [
        link(u, now)
        for u in (
            site.url("/net/good"),
            private_admin,
            "javascript:alert(document.cookie)",
            "data:text/html;base64,PHA+Q0lTTU9BPC9wPg==",
            "file:///etc/passwd",
            "https://elsewhere.invalid/opinion/1/x",
            site.url("/net/to-private"),
            site.url("/net/to-file"),
            site.url("/net/loop-a"),
        )
    ]
    site.add("/net/feed.xml", feed_page(feed))

    # A sitemap index whose children are a file, a data: URL, a private host and one good one.
    site.add_article(good("/net/good-2", now, "Sitemap good piece"), "Net")
    site.add_sitemap("/net/child.xml", [good("/net/good-2", now, "Sitemap good piece")])
    site.add(
        "/net/index.xml",
        Page(
            (
                '<?xml version="1.0"?><sitemapindex '
                'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                "<sitemap><loc>file:///etc/passwd</loc></sitemap>"
                "<sitemap><loc>data:text/xml,&lt;urlset/&gt;</loc></sitemap>"
                f"<sitemap><loc>{net.private_url('/sitemap.xml', 'localhost')}</loc></sitemap>"
                f"<sitemap><loc>{site.url('/net/child.xml')}</loc></sitemap>"
                "</sitemapindex>"
            ).encode(),
            content_type="application/xml",
        ),
    )

    # An outlet that lists "localhost" among its hosts: the site rule lets the private
    # server's URL through, the network guard still does not (unless allowed).
    site.add_article(good("/net/good-3", now, "Hosts good piece"), "Net")
    site.add(
        "/net/hosts-feed.xml",
        feed_page([link(site.url("/net/good-3"), now), link(private_admin, now)]),
    )
    return net


def outlets(net: Net) -> list[dict[str, Any]]:
    s = net.site
    return [
        {"id": "net-feed", "name": "Net Feed", "feeds": [s.url("/net/feed.xml")]},
        {"id": "net-index", "name": "Net Index", "sitemaps": [s.url("/net/index.xml")]},
        {
            "id": "net-hosts",
            "name": "Net Hosts",
            "feeds": [s.url("/net/hosts-feed.xml")],
            "hosts": ["localhost"],
        },
    ]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """Both crawls run here, once: guarded (the default), then allow_private_addresses."""
    n = build(tmp_path_factory.mktemp("net"))
    guarded = n.config("guarded", outlets(n))
    n.guarded = cli_json("--config", str(guarded), "crawl", "--format", "json")
    n.private_requests_when_guarded = sum(n.private.requests.values())
    n.site_requests_when_guarded = dict(n.site.requests)
    allowed = n.config("allowed", outlets(n), allow_private_addresses=True)
    n.allowed = cli_json("--config", str(allowed), "crawl", "--format", "json")
    yield n
    n.site.stop()
    n.private.stop()


def outlet(summary: dict[str, Any] | None, outlet_id: str) -> dict[str, Any]:
    assert summary is not None
    return next(o for o in summary["outlets"] if o["id"] == outlet_id)


def stored_urls(net: Net, name: str) -> set[str]:
    found = cli_json("--config", str(net.tmp / f"{name}.toml"), "search", "--format", "json")
    return {a["url"] for a in found}


def test_the_private_server_sees_no_request_by_default(net: Net) -> None:
    assert net.private_requests_when_guarded == 0


def test_feed_links_away_from_the_web_are_refused_and_counted(net: Net) -> None:
    feed = outlet(net.guarded, "net-feed")
    # localhost admin page, javascript:, data:, file:, another site, a redirect to the private
    # server and one to file: are refused; the redirect loop is counted on its own.
    assert feed["error_kinds"] == {"refused": 7, "redirect_loop": 1}
    assert feed["errors"] == 8
    assert feed["new_articles"] == 1
    fetched = net.site_requests_when_guarded
    assert fetched["/net/to-private"] == 1  # fetched once, its redirect refused
    assert fetched["/net/loop-a"] == 1 and fetched["/net/loop-b"] == 1  # seen as a loop at once


def test_sitemap_index_children_off_the_web_are_refused(net: Net) -> None:
    index = outlet(net.guarded, "net-index")
    assert index["error_kinds"] == {"refused": 3}
    assert index["new_articles"] == 1
    assert net.site_requests_when_guarded["/net/child.xml"] == 1


def test_hosts_lets_the_site_rule_pass_but_not_the_network_guard(net: Net) -> None:
    hosts = outlet(net.guarded, "net-hosts")
    assert hosts["error_kinds"] == {"refused": 1}
    assert hosts["new_articles"] == 1


def test_only_the_good_articles_are_stored(net: Net) -> None:
    assert stored_urls(net, "guarded") == {
        net.site.url("/net/good"),
        net.site.url("/net/good-2"),
        net.site.url("/net/good-3"),
    }


def test_status_shows_the_refusals(net: Net) -> None:
    status = cli_json("--config", str(net.tmp / "guarded.toml"), "status", "--format", "json")
    feed = next(r for r in status["outlets"] if r["id"] == "net-feed")
    assert feed["error_kinds"] == {"refused": 7, "redirect_loop": 1}


def test_allow_private_addresses_lets_private_hosts_through(net: Net) -> None:
    # The redirect to the private server and the hosts-listed localhost URL are fetched now;
    # a URL on another site is still refused (the site rule does not depend on addresses).
    assert net.private.fetch_count("/internal-admin") == 1  # the redirect's target
    assert net.private.fetch_count("/internal-admin?do=delete") == 1  # the hosts-listed URL
    assert net.private.fetch_count("/sitemap.xml") == 0  # on another site: still refused
    feed = outlet(net.allowed, "net-feed")
    assert feed["error_kinds"] == {"refused": 6, "redirect_loop": 1}
    assert outlet(net.allowed, "net-hosts")["error_kinds"] == {}
    assert any("/internal-admin" in url for url in stored_urls(net, "allowed"))


def test_rules_explain_and_outlets_check_use_the_same_guard(net: Net, tmp_path: Path) -> None:
    before = sum(net.private.requests.values())
    config = str(net.tmp / "guarded.toml")
    direct = run_cli("--config", config, "rules", "explain", net.private_url("/internal-admin"))
    assert direct.returncode == 1 and "refused" in direct.stderr
    assert "allow_private_addresses" in direct.stderr
    redirected = run_cli("--config", config, "rules", "explain", net.site.url("/net/to-private"))
    assert redirected.returncode == 1 and "refused" in redirected.stderr
    filed = run_cli("--config", config, "rules", "explain", net.site.url("/net/to-file"))
    assert filed.returncode == 1 and "root:" not in filed.stdout
    assert sum(net.private.requests.values()) == before

    checked = write_config(
        tmp_path / "check.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'c.db'}"},
            "crawl": {"timeout": "5s", "obey_robots": False},
            "catalogue": {"include": []},
            "outlets": [
                {
                    "id": "moved-inside",
                    "name": "Moved Inside",
                    "feeds": [net.site.url("/net/to-private"), net.site.url("/net/feed.xml")],
                }
            ],
        },
    )
    checking = run_cli("--config", str(checked), "outlets", "check", "--format", "json")
    assert checking.returncode == 1, checking.stderr  # a refused source is a problem
    reports = json.loads(checking.stdout)
    verdicts = {r["url"].rsplit("/", 1)[-1]: r["diagnosis"] for r in reports}
    assert verdicts == {"to-private": "refused", "feed.xml": "ok"}
    assert sum(net.private.requests.values()) == before


# The address classification itself, without a crawl.

PRIVATE = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "172.31.255.254": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",  # cloud metadata
    "fe80::1": "link-local",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "0.0.0.0": "unspecified",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "ff02::1": "multicast",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.0.0.1": "private",
    "2002:7f00:1::": "loopback",  # 6to4 around 127.0.0.1
    "64:ff9b::a9fe:a9fe": "link-local",  # NAT64 around 169.254.169.254
    "100.64.0.1": "reserved",  # carrier-grade NAT
    "240.0.0.1": "private",
}


@pytest.mark.parametrize("address", sorted(PRIVATE))
def test_non_public_addresses_are_classified(address: str) -> None:
    assert address_class(address) == PRIVATE[address]
    assert address_class(ipaddress.ip_address(address)) == PRIVATE[address]


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"])
def test_public_addresses_pass(address: str) -> None:
    assert address_class(address) is None


def test_policy_refuses_schemes_private_hosts_and_allows_sources() -> None:
    policy = NetworkPolicy.for_sources(["http://127.0.0.1:8080/feed.xml"])
    policy.check("http://127.0.0.1:8080/any/article")  # a configured source's host and port
    for url in (
        "http://127.0.0.1:8081/admin",  # same host, another port
        "http://localhost:8080/admin",  # a host name resolving to 127.0.0.1
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",  # 127.0.0.1 written as one number
        "file:///etc/passwd",
        "ftp://127.0.0.1/",
        "data:text/html,hi",
        "javascript:alert(1)",
        "http:///no-host",
        "http://127.0.0.1:99999/",
    ):
        with pytest.raises(RefusedURL):
            policy.check(url)
    NetworkPolicy(allow_private=True).check("http://localhost:8081/admin")
    resolved = {"example.org": ["93.184.216.34"], "rebind.example": ["93.184.216.34", "10.0.0.1"]}
    NetworkPolicy().check("https://example.org/", resolve=lambda h, p: resolved[h])
    with pytest.raises(RefusedURL, match="private address"):
        NetworkPolicy().check("https://rebind.example/", resolve=lambda h, p: resolved[h])
