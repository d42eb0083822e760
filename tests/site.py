"""The fixture outlets the crawl tests run against: three small sites on one local port.

alpha: RSS + Atom + a listing page, robots.txt, redirects, 404, 500, a huge page, a
       windows-1252 page, tracking-parameter duplicates, old articles, keyword-laden comments.
beta:  a sitemap index with a gzipped sitemap, a Google News sitemap and a stale child;
       a syndicated copy of an alpha op-ed, an Urdu page in windows-1256.
gamma: sources that fail: a 500 feed, a bot-challenge page, an empty feed.
"""

import hashlib
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from crawler.demo.site import DemoArticle, FixtureSite, Page, article_html, rss


def sample_paragraphs() -> list[str]:
    """The demo's CISMOA op-ed (crawler/demo/content), in paragraphs as the demo publishes it."""
    from crawler.demo.command import _paragraphs

    return _paragraphs("file:cismoa-oped.txt")


FILLER = (
    "The provincial budget debate continued for a third day as members argued over development "
    "spending, the share of districts in new revenue and the pace of pension reform. "
)


@dataclass
class SiteMap:
    site: FixtureSite
    now: datetime
    paths: dict[str, str] = field(default_factory=dict)
    alpha_feed: list[DemoArticle] = field(default_factory=list)

    def publish(self, a: DemoArticle, delay: float = 0.0) -> None:
        """A new article on alpha: its page, and an item at the top of alpha's RSS feed."""
        self.site.add_article(a, "Alpha Times")
        self.site.routes[a.path].delay = delay
        self.alpha_feed.insert(0, a)
        self.site.add_rss(self.paths["alpha_rss"], "Alpha Times", self.alpha_feed)

    def url(self, key: str) -> str:
        return self.site.url(self.paths[key])

    def fetches(self, key: str) -> int:
        """Requests for this page under any query string (tracking parameters included)."""
        path = self.paths[key]
        with self.site._lock:
            return sum(n for p, n in self.site.requests.items() if p.split("?")[0] == path)


def article(
    path: str, title: str, hours: float, paragraphs: list[str], now: datetime, **kw: object
) -> DemoArticle:
    return DemoArticle(
        path=path,
        title=title,
        author=str(kw.pop("author", "Staff Writer")),
        published=now - timedelta(hours=hours),
        paragraphs=paragraphs,
        **kw,
    )  # type: ignore[arg-type]


def build(now: datetime | None = None) -> SiteMap:
    now = now or datetime.now(UTC).replace(microsecond=0)
    site = FixtureSite().start()
    t = SiteMap(site, now)
    p = t.paths
    site.add(
        "/robots.txt",
        Page(b"User-agent: *\nDisallow: /alpha/private/\n", content_type="text/plain"),
    )

    # alpha
    a1 = article(
        "/alpha/opinion/101/renewing-cismoa",
        "Renewing CISMOA: what it means for Pakistan-US ties",
        2,
        sample_paragraphs(),
        now,
        author="Nauman Jalil",
        comments=["TTP TTP TTP will win", "FATF grey list again"],
        sidebar=["FATF keeps Pakistan off grey list", "TTP attack in Khyber"],
    )
    a2 = article(
        "/alpha/opinion/102/ttp-border",
        "The TTP problem on the western border",
        5,
        [
            "Since the Afghan Taliban returned to power in Kabul, the Tehrik-i-Taliban Pakistan "
            "has found room to regroup, and militant attacks in Khyber Pakhtunkhwa have risen.",
            "Islamabad's hope that the Afghan Taliban would restrain the TTP has not been "
            "borne out. " + FILLER * 2,
        ],
        now,
        author="Ayesha Siddiqa",
    )
    a3 = article(
        "/alpha/opinion/90/old-piece",
        "An old piece on the FATF",
        24 * 30,
        ["Pakistan was placed on the FATF grey list. " + FILLER * 3],
        now,
    )
    a7 = article(
        "/alpha/opinion/106/moved", "A moved op-ed on provincial budgets", 6, [FILLER * 4], now
    )
    a9 = article(
        "/alpha/opinion/108/cafe-diplomacy",
        "Café diplomacy and the grey list",
        7,
        [
            "At the “café diplomacy” round in Paris, Pakistan’s delegation argued that the "
            "grey list had served its purpose — résumé in hand. " + FILLER * 2,
        ],
        now,
    )
    a10 = article(
        "/alpha/opinion/95/page-dated-old",
        "A page whose own date is old",
        24 * 40,
        ["This column appeared long ago. " + FILLER * 3],
        now,
    )
    a11 = article(
        "/alpha/opinion/109/monsoon",
        "Monsoon and the cities",
        9,
        [
            "Every year the monsoon arrives and every year the cities drown. " + FILLER * 3,
        ],
        now,
        comments=["What about the TTP? And FATF? And CISMOA?", "CISMOA CISMOA"],
        sidebar=["TTP militants attack checkpost", "FATF plenary opens", "CISMOA renewed"],
    )
    for a in (a1, a2, a3, a7, a10, a11):
        site.add_article(a, "Alpha Times")
    site.add(
        a9.path,
        Page(
            article_html(a9, "Alpha Times", site.base, "windows-1252").encode("windows-1252"),
            content_type="text/html",
        ),
    )
    p.update(a1=a1.path, a2=a2.path, a3=a3.path, a7=a7.path, a9=a9.path, a10=a10.path, a11=a11.path)
    p["a4"] = "/alpha/opinion/103/deleted"  # 404: no route
    p["a5"] = "/alpha/opinion/104/broken"
    site.add(p["a5"], Page(b"<html><body>Internal error</body></html>", status=500))
    p["a6"] = "/alpha/private/105/secret"
    site.add(p["a6"], Page(b"<html><body><p>secret CISMOA</p></body></html>"))
    p["a7_redirect"] = "/alpha/r/106"
    site.add(p["a7_redirect"], Page(b"", status=301, headers={"Location": a7.path}))
    p["a8"] = "/alpha/opinion/107/huge"
    site.add(
        p["a8"],
        Page(b"<html><body>" + b"<p>" + b"padding " * 400_000 + b"</p>" * 1 + b"</body></html>"),
    )

    def link(path: str, title: str, hours: float) -> DemoArticle:
        return article(path, title, hours, ["x"], now)

    feed_items = [
        a1,
        link(a2.path + "?utm_source=rss&utm_medium=feed", a2.title, 5),
        a3,
        link(p["a4"], "Deleted piece", 3),
        link(p["a5"], "Broken piece", 3),
        link(p["a6"], "Private piece", 3),
        link(p["a7_redirect"], a7.title, 6),
        link(p["a8"], "Huge piece", 3),
        a9,
        a11,
    ]
    p["alpha_rss"] = "/alpha/feed.xml"
    site.add_rss(p["alpha_rss"], "Alpha Times", feed_items)
    t.alpha_feed = feed_items
    p["alpha_atom"] = "/alpha/atom.xml"
    site.add_atom(
        p["alpha_atom"], "Alpha Times", [link(a1.path + "?utm_campaign=x#comments", a1.title, 2)]
    )
    p["alpha_listing"] = "/alpha/opinion"
    site.add_listing(
        p["alpha_listing"],
        "Alpha Times",
        [a1, a2, a10],
        extra_links=("https://elsewhere.example/alpha/opinion/1/x",),
    )

    # beta
    b1 = article(
        "/beta/columns/cismoa-renewal",
        "Renewing CISMOA: what it means for Pakistan-US ties",
        1,
        sample_paragraphs(),
        now,
        author="Nauman Jalil",
    )
    b2 = article(
        "/beta/urdu/ttp-1",
        "تحريک طالبان پاکستان کے حملے",
        3,
        [
            "خيبر پختونخوا ميں تحريک طالبان پاکستان کے حملوں ميں اضافہ ہوا ہے اور حکومت نے نئي "
            "حکمت عملی کا اعلان کيا ہے. ".replace("ی", "ي")
            * 4,
        ],
        now,
    )
    b3_paragraphs = [
        "Pakistan left the Financial Action Task Force grey list in October 2022 after four years "
        "of scrutiny. " + FILLER * 2,
        "The FATF will be watching the next mutual evaluation closely. " + FILLER,
    ]
    b3 = article("/beta/business/fatf-after", "After the grey list", 4, b3_paragraphs, now)
    b4 = article("/beta/business/old-news", "Old news", 24 * 20, ["Old. " + FILLER], now)
    site.add_article(b1, "Beta Chronicle")
    site.add(
        b2.path,
        Page(
            article_html(b2, "Beta Chronicle", site.base, "windows-1256").encode("windows-1256"),
            content_type="text/html; charset=windows-1256",
        ),
    )
    # b3 carries no date of its own: the news sitemap's date is the one to keep.
    site.add(
        b3.path,
        Page(
            (
                "<html><head><title>After the grey list - Beta Chronicle</title></head><body>"
                "<article><h1>After the grey list</h1>"
                + "".join(f"<p>{x}</p>" for x in b3_paragraphs)
                + "</article></body></html>"
            ).encode()
        ),
    )
    site.add_article(b4, "Beta Chronicle")
    p.update(b1=b1.path, b2=b2.path, b3=b3.path, b4=b4.path)
    p["beta_gz"] = "/beta/sitemap-posts.xml.gz"
    site.add_sitemap(p["beta_gz"], [b1, b2], gzipped=True)
    p["beta_news"] = "/beta/news-sitemap.xml"
    site.add_sitemap(p["beta_news"], [b3, b4], news=True)
    p["beta_stale"] = "/beta/sitemap-2019.xml"
    site.add_sitemap(p["beta_stale"], [b4])
    p["beta_index"] = "/beta/sitemap_index.xml"
    site.add_sitemap_index(
        p["beta_index"],
        [p["beta_gz"], p["beta_news"], p["beta_stale"]],
        lastmod={p["beta_stale"]: now - timedelta(days=400)},
    )

    # gamma
    p["gamma_500"] = "/gamma/feed.xml"
    site.add(p["gamma_500"], Page(b"oops", status=500, content_type="text/plain"))
    p["gamma_challenge"] = "/gamma/challenge.xml"
    site.add(
        p["gamma_challenge"],
        Page(
            b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
            b"<div id='cf-chl-widget'>Checking your browser</div></body></html>"
        ),
    )
    p["gamma_empty"] = "/gamma/empty.xml"
    site.add(
        p["gamma_empty"],
        Page(rss("Gamma", site.base, []).encode(), content_type="application/rss+xml"),
    )
    return t


def outlets_config(t: SiteMap) -> list[dict[str, object]]:
    return [
        {
            "id": "alpha",
            "name": "Alpha Times",
            "country": "PK",
            "feeds": [t.url("alpha_rss"), t.url("alpha_atom")],
            "listings": [t.url("alpha_listing")],
            "article_url_pattern": r"/alpha/opinion/\d+/",
        },
        {
            "id": "beta",
            "name": "Beta Chronicle",
            "country": "IN",
            "sitemaps": [t.url("beta_index")],
        },
        {
            "id": "gamma",
            "name": "Gamma Daily",
            "country": "BD",
            "feeds": [t.url("gamma_500"), t.url("gamma_challenge"), t.url("gamma_empty")],
        },
    ]


class ConditionalSite(FixtureSite):
    """A fixture site that answers conditional requests as a careful server does: every page
    carries an ETag (a hash of its body) and a Last-Modified (advanced each time the route
    changes), and a matching If-None-Match (or, without one, If-Modified-Since) gets a 304.

    Counts requests, 304s and body bytes sent per path; a hook runs the first time its path
    is asked for (a test stops a crawl from there, with no sleeping).
    """

    def __init__(self) -> None:
        super().__init__()
        self.modified: dict[str, datetime] = {}
        self.not_modified: Counter[str] = Counter()
        self.body_bytes: Counter[str] = Counter()
        self.hooks: dict[str, Callable[[], None]] = {}
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)

    def add(self, path: str, page: Page) -> None:
        with self._lock:
            self._clock += timedelta(hours=1)
            self.modified[path] = self._clock
            self.routes[path] = page

    def start(self, port: int = 0) -> "ConditionalSite":
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                path = self.path
                with site._lock:
                    site.requests[path] += 1
                    site.user_agents.add(self.headers.get("User-Agent", ""))
                    key = path if path in site.routes else path.split("?")[0]
                    page = site.routes.get(key)
                    modified = site.modified.get(key)
                    hook = site.hooks.pop(path, None)  # once
                if hook is not None:
                    hook()
                if page is None:
                    page = Page(b"<html><body><h1>Not found</h1></body></html>", status=404)
                etag = '"' + hashlib.sha1(page.body).hexdigest()[:16] + '"'
                stamp = format_datetime(modified, usegmt=True) if modified else None
                if page.status == 200 and self._unchanged(etag, modified):
                    with site._lock:
                        site.not_modified[path] += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(page.body)))
                if page.status == 200:
                    self.send_header("ETag", etag)
                    if stamp:
                        self.send_header("Last-Modified", stamp)
                for k, v in page.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(page.body)
                with site._lock:
                    site.body_bytes[path] += len(page.body)

            def _unchanged(self, etag: str, modified: datetime | None) -> bool:
                # RFC 9110 13.2.2: If-None-Match, when sent, decides; If-Modified-Since only
                # without it.
                if (match := self.headers.get("If-None-Match")) is not None:
                    return etag in [m.strip() for m in match.split(",")] or match.strip() == "*"
                since = self.headers.get("If-Modified-Since")
                if since and modified:
                    try:
                        return modified <= parsedate_to_datetime(since)
                    except (TypeError, ValueError):
                        return False
                return False

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._server = Server(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self
