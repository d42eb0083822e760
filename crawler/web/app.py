"""`mediawatch web`: the search UI and JSON API, server-rendered (no JavaScript at all).

Starlette with Jinja2 (autoescape on). Every byte from the web is escaped; highlighted
snippets are built from escaped text plus our own <mark> tags. The Content-Security-Policy
forbids scripts outright, so even a missed escape could not run one.
"""

import base64
import binascii
import hmac
import logging
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alerts.render import highlight, safe_link
from crawler.archive.filters import article_filter, article_id, whole_number
from crawler.archive.reader import Archive
from crawler.archive.shapes import results_csv
from crawler.config import Config
from crawler.config.errors import MediawatchError, NotFoundError, QueryError, UsageError
from crawler.service.status import status_report
from storage.queries import ArticleFilter
from storage.search import MARK_END, MARK_START

logger = logging.getLogger(__name__)
PAGE_SIZE = 20
MAX_PAGE = 1_000_000
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


def _filter_from(request: Request, now: datetime, limit: int = PAGE_SIZE) -> ArticleFilter:
    """The search parameters of a request; UsageError (a 400) for any bad one."""
    q = request.query_params
    try:
        min_score = float(q["min_score"][:40]) if q.get("min_score") else None
    except ValueError:
        raise UsageError("min_score: must be a number") from None
    page = whole_number(q.get("page") or 1, "page", 1, MAX_PAGE)
    limit = whole_number(q.get("limit") or limit, "limit", 1, 500)
    return article_filter(
        now,
        query=q.get("q"),
        topic=q.get("topic"),
        outlet=q.get("outlet"),
        since=q.get("since"),
        until=q.get("until"),
        min_score=min_score,
        language=q.get("language"),
        limit=limit,
        offset=(page - 1) * limit,
        since_name="since",
        until_name="until",
    )


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
        self.topic_names = {t.id: t.name for t in config.topics}
        self.outlets = {o.id: o.name for o in config.active_outlets()}

    def routes(self) -> list[Route | Mount]:
        static = StaticFiles(directory=str(resources.files("crawler.web").joinpath("static")))
        return [
            Route("/", self.index),
            Route("/articles/{article_id}", self.article),
            Route("/outlets", self.outlets_page),
            Route("/api/articles", self.api_articles),
            Route("/api/articles/{article_id}", self.api_article),
            Route("/export.csv", self.export_csv),
            Route("/healthz", lambda request: JSONResponse({"status": "ok"})),
            Route("/openapi.json", lambda request: JSONResponse(OPENAPI)),
            Mount("/static", static, name="static"),
        ]

    def index(self, request: Request) -> Response:
        now = datetime.now(UTC)
        error, results, f = None, [], None
        try:
            f = _filter_from(request, now)
            results = self.archive.search(f, now, marked=True)
        except (QueryError, UsageError) as exc:
            error = str(exc)
        for r in results:
            r["snippet_html"] = (
                marked_html(r["snippet_marked"])
                if "snippet_marked" in r
                else highlight(r["snippet"], self.archive.rules.highlight_patterns(r["topics"]))
            )
        page = (f.offset // f.limit + 1) if f else 1
        return self.templates.TemplateResponse(
            request,
            "search.html",
            {
                "results": results,
                "error": error,
                "q": request.query_params,
                "topic_names": self.topic_names,
                "outlets": self.outlets,
                "page": page,
                "has_next": len(results) == PAGE_SIZE,
                "next_url": "?" + _params(request, page=page + 1),
                "prev_url": "?" + _params(request, page=page - 1) if page > 1 else None,
                "json_url": "/api/articles?" + _params(request),
                "csv_url": "/export.csv?" + _params(request, limit=500),
            },
            status_code=400 if error else 200,
        )

    def article(self, request: Request) -> Response:
        try:
            data = self.archive.show(article_id(request.path_params["article_id"]))
        except UsageError as exc:
            return HTMLResponse(f"<h1>{escape(str(exc))}</h1>", status_code=400)
        except NotFoundError:
            return HTMLResponse("<h1>No such article</h1>", status_code=404)
        topics = [m["topic"] for m in data["matches"]]
        body = highlight(data["text"], self.archive.rules.highlight_patterns(topics))
        return self.templates.TemplateResponse(
            request,
            "article.html",
            {"a": data, "body": body, "topic_names": self.topic_names, "outlets": self.outlets},
        )

    def outlets_page(self, request: Request) -> Response:
        report = status_report(self.config, datetime.now(UTC), self.archive.db)
        return self.templates.TemplateResponse(
            request, "outlets.html", {"report": report.as_json(), "outlets": self.outlets}
        )

    def api_articles(self, request: Request) -> Response:
        try:
            return JSONResponse(self.archive.search(_filter_from(request, datetime.now(UTC))))
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
            rows = self.archive.search(_filter_from(request, datetime.now(UTC), limit=500))
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
    return Starlette(
        routes=WebUI(config, archive).routes(),
        middleware=[
            Middleware(SecurityHeaders),
            # Refuses DNS rebinding: a hostile page's own name in Host gets a 400.
            Middleware(TrustedHostMiddleware, allowed_hosts=config.web.trusted_hosts(host)),
            Middleware(TokenAuth, token=config.web.token),
        ],
        exception_handlers={Exception: server_error},
    )


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
                        "content": {
                            "application/json": {"schema": {"type": "array", "items": _ARTICLE}}
                        },
                    },
                    "400": {"description": "malformed query or filter"},
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
        "/healthz": {"get": {"summary": "liveness", "responses": {"200": {"description": "ok"}}}},
    },
}


def serve(config: Config, host: str, port: int) -> None:
    """Run the web UI until interrupted."""
    import uvicorn

    with Archive.open(config) as archive:
        app = create_app(config, archive, host)
        uvicorn.run(app, host=host, port=port, log_level="warning")
