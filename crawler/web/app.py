"""`mediawatch web`: the search UI and JSON API, server-rendered (no JavaScript at all).

Starlette with Jinja2 (autoescape on). Every byte from the web is escaped; highlighted
snippets are built from escaped text plus our own <mark> tags. The Content-Security-Policy
forbids scripts outright, so even a missed escape could not run one.
"""

import base64
import binascii
import errno
import hmac
import ipaddress
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alerts.render import highlight, safe_link
from crawler.archive.clock import display_zone
from crawler.archive.filters import article_id
from crawler.archive.reader import Archive
from crawler.archive.shapes import results_csv
from crawler.config import Config
from crawler.config.errors import MediawatchError, NotFoundError, QueryError, UsageError
from crawler.config.model import WEB_TOKEN_ENV
from crawler.service.status import status_report
from crawler.web import present
from crawler.web.edits import edit_view
from crawler.web.feedback import Feedback
from crawler.web.feeds import Feeds, search_feed_url
from crawler.web.params import KnownFilters, search_filter
from crawler.web.trends import TRENDS_OPENAPI, TrendPages
from storage.queries import ArticleFilter
from storage.search import MARK_END, MARK_START

logger = logging.getLogger(__name__)
PAGE_SIZE = 20
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def marked_html(snippet: str) -> Markup:
    """A search snippet with the database's match markers as <mark>, all else escaped."""
    out = str(escape(snippet)).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
    return Markup(out)


class SecurityHeaders:
    """CSP and friends on every response, added as it starts: errors, 404s and the Host and
    token refusals included (plain ASGI, so no response can slip past)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def server_error(request: Request, exc: Exception) -> Response:
    """A bug's 500, still with the security headers (it is sent outside every middleware)."""
    logger.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return PlainTextResponse("internal error", status_code=500, headers=SECURITY_HEADERS)


class TokenAuth(BaseHTTPMiddleware):
    """With [web] token set: a bearer token, or basic auth with the token as password."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if not self.token or request.url.path == "/healthz" or self._ok(request):
            return await call_next(request)
        return PlainTextResponse(
            "authentication required",
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="mediawatch"'},
        )

    def _ok(self, request: Request) -> bool:
        # Compared as bytes: compare_digest refuses non-ASCII str, and headers may hold any
        # byte (Starlette decodes them as latin-1, so encoding back gives the bytes sent).
        token = self.token.encode("utf-8")
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return hmac.compare_digest(value.strip().encode("latin-1"), token)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip().encode("latin-1"), validate=True)
            except (ValueError, binascii.Error):
                return False
            return hmac.compare_digest(decoded.partition(b":")[2], token)
        return False


class WebUI:
    """The pages and API over one Archive. Handlers are plain functions: Starlette runs them
    in its thread pool, so database reads never block the event loop."""

    def __init__(self, config: Config, archive: Archive) -> None:
        self.config = config
        self.archive = archive
        self.templates = Jinja2Templates(
            env=Environment(loader=PackageLoader("crawler.web", "templates"), autoescape=True)
        )
        self.templates.env.globals.update(safe_link=safe_link, marked_html=marked_html)
        self.zone = zone = display_zone(config)
        self.templates.env.filters.update(
            when=lambda value, empty="": present.time_element(value, zone, empty),
            date_source=present.date_source,
            language_name=present.language_name,
            lang_attrs=present.lang_attributes,
        )
        self.known = KnownFilters(config, archive.db)
        self.topic_names = {t.id: t.name for t in config.topics}
        self.outlets = {o.id: o.name for o in config.active_outlets()}
        self.feedback = Feedback(config, archive)

    def routes(self) -> list[Route | Mount]:
        static = StaticFiles(directory=str(resources.files("crawler.web").joinpath("static")))
        return [
            Route("/", self.index),
            Route("/articles/{article_id}", self.article),
            Route("/outlets", self.outlets_page),
            Route("/api/articles", self.api_articles),
            Route("/api/articles/{article_id}", self.api_article),
            Route("/export.csv", self.export_csv),
            *TrendPages(self.config, self.archive, self.templates).routes(),
            *self.feedback.routes(),
            Route("/healthz", lambda request: JSONResponse({"status": "ok"})),
            Route("/openapi.json", lambda request: JSONResponse(OPENAPI)),
            Mount("/static", static, name="static"),
        ]

    def _filter(self, request: Request, now: datetime, limit: int = PAGE_SIZE) -> ArticleFilter:
        """The request's search parameters; UsageError (a 400) for any bad or unknown one."""
        return search_filter(self.known.check(request.query_params), now, self.zone, limit)

    def index(self, request: Request) -> Response:
        now = datetime.now(UTC)
        error, results, f, total = None, [], None, 0
        try:
            f = self._filter(request, now)
            results = self.archive.search(f, now, marked=True)
            # A short page (with results, or the first) is the last: its total needs no count.
            short = len(results) < f.limit and (bool(results) or not f.offset)
            total = f.offset + len(results) if short else self.archive.count(f)
        except (QueryError, UsageError) as exc:
            error = str(exc)
        for r in results:
            r["snippet_html"] = (
                marked_html(r["snippet_marked"])
                if "snippet_marked" in r
                else highlight(r["snippet"], self.archive.rules.highlight_patterns(r["topics"]))
            )
        page, size = (f.offset // f.limit + 1, f.limit) if f else (1, PAGE_SIZE)
        last_page = max(-(-total // size), 1)
        return self.templates.TemplateResponse(
            request,
            "search.html",
            {
                "results": results,
                "error": error,
                "q": request.query_params,
                "topic_names": self.topic_names,
                "outlets": self.outlets,
                "languages": self.languages(request.query_params.get("language")),
                "total": total,
                "first": (page - 1) * size + 1,
                "page": page,
                "pages": [
                    (n, "?" + _params(request, page=n) if n else None)
                    for n in present.page_numbers(page, last_page)
                ],
                "next_url": "?" + _params(request, page=page + 1) if page < last_page else None,
                "prev_url": "?" + _params(request, page=page - 1) if page > 1 else None,
                "json_url": "/api/articles?" + _params(request),
                # The export is the search's first 500, whatever page is being read.
                "csv_url": "/export.csv?" + _params(request, limit=500, page=1),
                "feed_url": search_feed_url(request.query_params),
            },
            status_code=400 if error else 200,
        )

    def languages(self, chosen: str | None) -> list[str]:
        """The stored articles' languages for the filter (read at most once a minute), and
        the one asked for, so that a page keeps it selected."""
        return sorted(set(self.known.stored()[1]) | ({chosen} if chosen else set()))

    def error_page(
        self, request: Request, status: int, message: str, headers: Any = None
    ) -> Response:
        """An error as a page of the site (base template, a way back to search)."""
        return self.templates.TemplateResponse(
            request,
            "error.html",
            {"status": status, "message": message},
            status_code=status,
            headers=headers,
        )

    def http_error(self, request: Request, exc: Exception) -> Response:
        """Starlette's own errors (an unknown path, a wrong method) as styled pages."""
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return self.error_page(request, 404, f"There is no page at {request.url.path}.")
        return self.error_page(request, exc.status_code, str(exc.detail), exc.headers)

    def article(self, request: Request) -> Response:
        try:
            data = self.archive.show(article_id(request.path_params["article_id"]))
        except UsageError as exc:
            return self.error_page(request, 400, str(exc))
        except NotFoundError:
            number = request.path_params["article_id"]
            return self.error_page(request, 404, f"No article has the id {number}.")
        topics = [m["topic"] for m in data["matches"]]
        body = highlight(data["text"], self.archive.rules.highlight_patterns(topics))
        extras, cookie = self.feedback.page_context(request, data)
        edits = edit_view(self.archive, data["id"], request.query_params.get("version"))
        response = self.templates.TemplateResponse(
            request,
            "article.html",
            {
                "a": data,
                "edits": edits,
                "body": body,
                "topic_names": self.topic_names,
                "outlets": self.outlets,
                **extras,
            },
        )
        self.feedback.set_cookie(response, cookie)
        return response

    def outlets_page(self, request: Request) -> Response:
        now = datetime.now(UTC)
        report = status_report(self.config, now, self.archive.db)
        daemon = present.daemon_state(report.heartbeat, now)
        return self.templates.TemplateResponse(
            request,
            "outlets.html",
            {
                "report": report.as_json(),
                "outlets": self.outlets,
                "daemon": daemon,
                "daemon_age": present.age(daemon.last_beat, now),
            },
        )

    def api_articles(self, request: Request) -> Response:
        try:
            f = self._filter(request, datetime.now(UTC))
            results = self.archive.search(f)
            # The total in a header, so the body stays the contract's array.
            short = len(results) < f.limit and (results or not f.offset)
            total = f.offset + len(results) if short else self.archive.count(f)
            return JSONResponse(results, headers={"X-Total-Count": str(total)})
        except MediawatchError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    def api_article(self, request: Request) -> Response:
        try:
            return JSONResponse(self.archive.show(article_id(request.path_params["article_id"])))
        except UsageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except NotFoundError:
            return JSONResponse({"error": "no such article"}, status_code=404)

    def export_csv(self, request: Request) -> Response:
        try:
            rows = self.archive.search(self._filter(request, datetime.now(UTC), limit=500))
        except MediawatchError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        return Response(
            results_csv(rows, bom=True),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="mediawatch.csv"'},
        )


def _params(request: Request, **changes: Any) -> str:
    """The request's query string with some parameters changed (for paging and exports)."""
    params = {k: v for k, v in request.query_params.items() if v}
    params.update({k: str(v) for k, v in changes.items() if v is not None})
    return urlencode(params)


def create_app(config: Config, archive: Archive, host: str | None = None) -> Starlette:
    """The Starlette app: pages, API, security headers, the Host check, optional token.

    `host` is the address `mediawatch web --host` listens on, trusted like [web] host."""
    ui = WebUI(config, archive)
    return Starlette(
        routes=ui.routes() + Feeds(config, archive, ui.known).routes(),
        middleware=[
            Middleware(SecurityHeaders),
            # Refuses DNS rebinding: a hostile page's own name in Host gets a 400.
            Middleware(TrustedHostMiddleware, allowed_hosts=config.web.trusted_hosts(host)),
            Middleware(TokenAuth, token=config.web.token),
        ],
        exception_handlers={Exception: server_error, HTTPException: ui.http_error},
    )


# A 400 from the search endpoints, as the OpenAPI description says it.
BAD_FILTER = "a malformed query or filter, or an unknown topic, outlet or language"
_FILTERS = [
    {"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
    for n, t, d in [
        ("q", "string", 'words, "phrases", OR, -excluded, (groups)'),
        ("topic", "string", "topic id"),
        ("outlet", "string", "outlet id"),
        ("since", "string", "date (2026-03-01) or age (7d)"),
        ("until", "string", "date or age"),
        ("min_score", "number", "minimum relevance score"),
        ("language", "string", "ISO 639-1 code"),
        ("page", "integer", "page number, from 1"),
        ("limit", "integer", "results per page (at most 500)"),
    ]
]
_ARTICLE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "url": {"type": "string"},
        "outlet": {"type": "string"},
        "title": {"type": "string"},
        "author": {"type": ["string", "null"]},
        "published": {"type": ["string", "null"], "format": "date-time"},
        "score": {"type": "number"},
        "topics": {"type": "array", "items": {"type": "string"}},
        "snippet": {"type": "string"},
    },
}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "mediawatch", "version": "1"},
    "paths": {
        "/api/articles": {
            "get": {
                "summary": "Search stored articles (best first; newest first without q)",
                "parameters": _FILTERS,
                "responses": {
                    "200": {
                        "description": "articles",
                        "headers": {
                            "X-Total-Count": {
                                "description": "how many articles match in all (limit and "
                                "offset aside)",
                                "schema": {"type": "integer"},
                            }
                        },
                        "content": {
                            "application/json": {"schema": {"type": "array", "items": _ARTICLE}}
                        },
                    },
                    "400": {"description": BAD_FILTER},
                },
            }
        },
        "/api/articles/{id}": {
            "get": {
                "summary": "One article with its text and matched terms",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {
                    "200": {"description": "the article"},
                    "404": {"description": "no such article"},
                },
            }
        },
        "/feeds/topics/{id}.atom": {
            "get": {
                "summary": "Atom 1.0 feed of a topic: its newest 50 stories, newest first",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "the feed", "content": {"application/atom+xml": {}}},
                    "404": {"description": "no such topic"},
                },
            }
        },
        "/feeds/search.atom": {
            "get": {
                "summary": "Atom 1.0 feed of a search: its newest 50 stories, newest first",
                "parameters": [p for p in _FILTERS if p["name"] not in ("page", "limit")],
                "responses": {
                    "200": {"description": "the feed", "content": {"application/atom+xml": {}}},
                    "400": {"description": BAD_FILTER},
                },
            }
        },
        "/api/trends": {"get": TRENDS_OPENAPI},
        "/healthz": {"get": {"summary": "liveness", "responses": {"200": {"description": "ok"}}}},
    },
}


def token_warning(config: Config, host: str, port: int) -> str | None:
    """The warning for a web UI served beyond this machine with no token, or None."""
    if config.web.token or _loopback(host):
        return None
    return (
        f"warning: serving on {host}:{port} with no token: anyone who can reach this port can "
        f'read the whole archive. Set a token with `[web] token = "..."` in the configuration '
        f"or ${WEB_TOKEN_ENV} in the environment (e.g. {WEB_TOKEN_ENV}=$(openssl rand -hex 16)), "
        "or listen on 127.0.0.1 behind a proxy that asks for a login"
    )


def _loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to any address


@contextmanager
def bound(config: Config, host: str, port: int) -> Iterator[Callable[[], None]]:
    """The web UI ready to serve: its archive opened and its port bound, so that a missing
    database or a port in use is an error (MediawatchError, exit 1) before the command says it
    serves. Yields the function that serves until SIGINT or SIGTERM."""
    import uvicorn

    with Archive.open(config) as archive:
        app = create_app(config, archive, host)
        sock = _listen(host, port)
        try:
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
            yield lambda: _serve(server, sock)
        finally:
            sock.close()


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port` and listening; MediawatchError naming the fix if not.

    Bound here rather than by uvicorn, which logs its own "ERROR: [Errno 98]" and exits 3."""
    where = f"port {port} on {host}"
    try:
        # IPv6 only for an IPv6 address, as uvicorn chose: "localhost" that resolves to ::1
        # first would otherwise leave http://127.0.0.1:PORT/ unanswered.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        socket.getaddrinfo(host.strip("[]"), port, family=family, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise MediawatchError(
            f"cannot listen on {host}: no such address or host name; fix --host "
            "(e.g. 127.0.0.1) or [web] host"
        ) from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise MediawatchError(
                f"{where} is in use (by another program or another mediawatch web); stop it, "
                "or choose another with --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise MediawatchError(
                f"{where}: permission denied (ports below 1024 need root); choose another "
                "with --port"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise MediawatchError(
                f"cannot listen on {host}: not an address of this machine; fix --host "
                "(e.g. 127.0.0.1) or [web] host"
            ) from None
        raise MediawatchError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    return sock


def _serve(server: Any, sock: socket.socket) -> None:
    """Serve on `sock` until SIGINT or SIGTERM, then return: a clean stop, exit status 0.

    uvicorn handles both signals while it serves, then raises the one it caught again with
    the handler it found; SIGTERM's default handler would end the process by that signal
    (status -15, 143 in a shell). So both point at uvicorn's own handler for the whole run:
    one arriving while it starts stops it too, and the signal raised again is a no-op."""
    handlers = {sig: signal.signal(sig, server.handle_exit) for sig in STOP_SIGNALS}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
