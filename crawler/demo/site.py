"""A small news site served on 127.0.0.1: the demo's outlets and the tests' fixture outlets.

Pages are built in memory (article HTML, RSS/Atom feeds, sitemaps) and served by a threaded
http.server with a deep listen backlog (the default of 5 stalls under a crawler).
"""

import gzip
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape as xml_escape


@dataclass
class Page:
    """One response the fixture site serves."""

    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds the server waits before answering: a slow page


@dataclass
class DemoArticle:
    """An article the fixture site publishes (page, feed item, sitemap entry)."""

    path: str
    title: str
    author: str
    published: datetime
    paragraphs: list[str]
    comments: list[str] = field(default_factory=list)
    sidebar: list[str] = field(default_factory=list)
    canonical: str | None = None


class FixtureSite:
    """Routes of one or more fake outlets on one local port; counts every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Page] = {}
        self.requests: Counter[str] = Counter()
        self.user_agents: set[str] = set()  # every User-Agent that asked, for tests
        self.not_modified: Counter[str] = Counter()  # 304 answers to conditional requests
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self._server is not None, "start() the site first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, page: Page) -> None:
        with self._lock:
            self.routes[path] = page

    def remove(self, path: str) -> None:
        with self._lock:
            self.routes.pop(path, None)

    def start(self, port: int = 0) -> "FixtureSite":
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                with site._lock:
                    site.requests[self.path] += 1
                    site.user_agents.add(self.headers.get("User-Agent", ""))
                    page = site.routes.get(self.path) or site.routes.get(self.path.split("?")[0])
                if page is None:
                    page = Page(b"<html><body><h1>Not found</h1></body></html>", status=404)
                if page.delay:
                    threading.Event().wait(page.delay)
                if page.status == 200 and self._unchanged(page):
                    with site._lock:
                        site.not_modified[self.path] += 1
                    self.send_response(304)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(page.body)))
                for k, v in page.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(page.body)

            def _unchanged(self, page: Page) -> bool:
                """A conditional request the page's own ETag / Last-Modified answer (exact
                match, as a simple server does)."""
                etag, since = (
                    self.headers.get("If-None-Match"),
                    self.headers.get("If-Modified-Since"),
                )
                if etag is not None:
                    return etag == page.headers.get("ETag")
                return since is not None and since == page.headers.get("Last-Modified")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a crawler hanging up early is normal here

        self._server = Server(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fetch_count(self, path: str) -> int:
        with self._lock:
            return self.requests[path]

    # builders

    def add_article(self, a: DemoArticle, site_name: str, encoding: str = "utf-8") -> None:
        self.add(
            a.path,
            Page(
                article_html(a, site_name, self.base, encoding).encode(encoding),
                content_type=f"text/html; charset={encoding}",
            ),
        )

    def add_rss(self, path: str, title: str, items: list[DemoArticle]) -> None:
        self.add(
            path, Page(rss(title, self.base, items).encode(), content_type="application/rss+xml")
        )

    def add_atom(self, path: str, title: str, items: list[DemoArticle]) -> None:
        self.add(
            path, Page(atom(title, self.base, items).encode(), content_type="application/atom+xml")
        )

    def add_sitemap(
        self, path: str, items: list[DemoArticle], news: bool = False, gzipped: bool = False
    ) -> None:
        body = sitemap(self.base, items, news).encode()
        if gzipped:
            self.add(path, Page(gzip.compress(body), content_type="application/x-gzip"))
        else:
            self.add(path, Page(body, content_type="application/xml"))

    def add_sitemap_index(
        self, path: str, children: list[str], lastmod: dict[str, datetime] | None = None
    ) -> None:
        lastmod = lastmod or {}
        entries = "".join(
            f"<sitemap><loc>{xml_escape(self.base + c)}</loc>"
            + (f"<lastmod>{lastmod[c].isoformat()}</lastmod>" if c in lastmod else "")
            + "</sitemap>"
            for c in children
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'
        )
        self.add(path, Page(body.encode(), content_type="application/xml"))

    def add_listing(
        self, path: str, site_name: str, items: list[DemoArticle], extra_links: tuple[str, ...] = ()
    ) -> None:
        links = "".join(f'<li><a href="{escape(a.path)}">{escape(a.title)}</a></li>' for a in items)
        links += "".join(f'<li><a href="{escape(u)}">elsewhere</a></li>' for u in extra_links)
        body = (
            f"<html><head><title>Opinion | {escape(site_name)}</title></head><body>"
            f"<nav><a href='/'>Home</a> <a href='/about'>About</a></nav>"
            f"<h1>Opinion</h1><ul>{links}</ul></body></html>"
        )
        self.add(path, Page(body.encode()))


def article_html(a: DemoArticle, site_name: str, base: str, encoding: str = "utf-8") -> str:
    """A news page in the usual shape: article, byline, sidebar, comments, footer."""
    paragraphs = "\n".join(f"<p>{escape(p)}</p>" for p in a.paragraphs)
    comments = "\n".join(
        f'<div class="comment"><span class="comment-author">reader{i}</span>'
        f"<p>{escape(c)}</p></div>"
        for i, c in enumerate(a.comments)
    )
    sidebar = "\n".join(
        f'<li><a href="/news/other-{i}">{escape(s)}</a></li>' for i, s in enumerate(a.sidebar)
    )
    canonical = a.canonical or base + a.path
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="{encoding}">
<title>{escape(a.title)} | {escape(site_name)}</title>
<meta property="og:title" content="{escape(a.title)}">
<meta property="og:site_name" content="{escape(site_name)}">
<meta name="author" content="{escape(a.author)}">
<meta property="article:published_time" content="{a.published.isoformat()}">
<link rel="canonical" href="{escape(canonical)}">
</head><body>
<header><nav><a href="/">Home</a> <a href="/opinion">Opinion</a> <a href="/pakistan">Pakistan</a>
<a href="/world">World</a> <a href="/business">Business</a></nav></header>
<main>
<article>
<h1>{escape(a.title)}</h1>
<p class="byline">By <span class="author">{escape(a.author)}</span> ·
<time datetime="{a.published.isoformat()}">{a.published.strftime("%B %d, %Y")}</time></p>
<div class="story-body">
{paragraphs}
</div>
</article>
<aside class="most-read"><h3>Most read</h3><ul>{sidebar}</ul></aside>
<section id="comments" class="comments"><h3>Comments ({len(a.comments)})</h3>
{comments}
</section>
</main>
<footer><p>© {escape(site_name)}. All rights reserved.</p>
<p>Contact us · Advertise · Privacy policy</p></footer>
</body></html>"""


def rss(title: str, base: str, items: list[DemoArticle]) -> str:
    """An RSS 2.0 feed of these articles."""
    entries = "".join(
        f"<item><title>{xml_escape(a.title)}</title><link>{xml_escape(base + a.path)}</link>"
        f"<pubDate>{format_datetime(a.published)}</pubDate>"
        f"<description>{xml_escape(a.paragraphs[0][:200])}</description></item>"
        for a in items
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{xml_escape(title)}</title><link>{base}/</link>{entries}</channel></rss>"
    )


def atom(title: str, base: str, items: list[DemoArticle]) -> str:
    """An Atom feed of these articles."""
    entries = "".join(
        f"<entry><title>{xml_escape(a.title)}</title>"
        f'<link rel="alternate" href="{xml_escape(base + a.path)}"/>'
        f"<id>{xml_escape(base + a.path)}</id><updated>{a.published.isoformat()}</updated>"
        f"<published>{a.published.isoformat()}</published></entry>"
        for a in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{xml_escape(title)}</title><id>{base}/</id><updated>2026-01-01T00:00:00Z</updated>"
        f"{entries}</feed>"
    )


def sitemap(base: str, items: list[DemoArticle], news: bool) -> str:
    """A sitemap of these articles, with Google News fields when `news`."""
    ns = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"' if news else ""
    rows = []
    for a in items:
        extra = (
            f"<news:news><news:publication><news:name>Demo</news:name><news:language>en</news:language>"
            f"</news:publication><news:publication_date>{a.published.isoformat()}</news:publication_date>"
            f"<news:title>{xml_escape(a.title)}</news:title></news:news>"
            if news
            else f"<lastmod>{a.published.isoformat()}</lastmod>"
        )
        rows.append(f"<url><loc>{xml_escape(base + a.path)}</loc>{extra}</url>")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"{ns}>{"".join(rows)}</urlset>'
    )
