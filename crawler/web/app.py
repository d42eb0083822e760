"""`mediawatch web`: the search UI and JSON API, server-rendered (no JavaScript at all).

Starlette with Jinja2 (autoescape on). Every byte from the web is escaped; highlighted
snippets are built from escaped text plus our own <mark> tags. The Content-Security-Policy
forbids scripts outright, so even a missed escape could not run one.
"""

import base64
import hmac
import math
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from alerts.render import highlight, safe_link
from crawler.archive.reader import Archive
from crawler.archive.shapes import results_csv
from crawler.archive.since import parse_since
from crawler.config import Config
from crawler.config.errors import MediawatchError, NotFoundError, QueryError, UsageError
from crawler.service.status import status_report
from storage.queries import ArticleFilter
from storage.search import MARK_END, MARK_START

PAGE_SIZE = 20
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


class SecurityHeaders(BaseHTTPMiddleware):
    """CSP and friends on every response."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response


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
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return hmac.compare_digest(value.strip(), self.token)
        if scheme.lower() == "basic":
            try:
                _, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return hmac.compare_digest(password, self.token)
        return False


def _filter_from(request: Request, now: datetime, limit: int = PAGE_SIZE) -> ArticleFilter:
    q = request.query_params
    try:
        min_score = float(q["min_score"]) if q.get("min_score") else None
        page = max(int(q.get("page", "1") or 1), 1)
        limit = min(max(int(q.get("limit", limit)), 1), 500)
    except ValueError:
        raise UsageError("min_score, page and limit must be numbers") from None
    if min_score is not None and not math.isfinite(min_score):
        raise UsageError("min_score must be a finite number")
    return ArticleFilter(
        query=q.get("q") or None,
        topic=q.get("topic") or None,
        outlet=q.get("outlet") or None,
        since=parse_since(q.get("since") or None, now, "since"),
        until=parse_since(q.get("until") or None, now, "until"),
        min_score=min_score,
        language=q.get("language") or None,
        limit=limit,
        offset=(page - 1) * limit,
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
            data = self.archive.show(int(request.path_params["article_id"]))
        except (NotFoundError, ValueError):
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
            return JSONResponse(self.archive.show(int(request.path_params["article_id"])))
        except (NotFoundError, ValueError):
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


def create_app(config: Config, archive: Archive) -> Starlette:
    """The Starlette app: pages, API, security headers, optional token."""
    return Starlette(
        routes=WebUI(config, archive).routes(),
        middleware=[Middleware(SecurityHeaders), Middleware(TokenAuth, token=config.web.token)],
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
        uvicorn.run(create_app(config, archive), host=host, port=port, log_level="warning")
