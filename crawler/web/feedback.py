"""The article page's reader side: relevance marks (plain HTML forms, POST, CSRF-protected)
and "more like this".

CSRF: the page sets a random cookie (HttpOnly, SameSite=Strict) and each form carries an
HMAC of it under a key this server drew at start; a POST needs both to agree. A page on
another site can neither read the form's token nor make the browser send the cookie with its
request, and a request marked `Sec-Fetch-Site: cross-site` is refused outright. [web] token
applies to these POSTs as to every other path (crawler.web.app.TokenAuth).
"""

import hmac
import secrets
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from crawler.archive.filters import article_id
from crawler.archive.reader import Archive
from crawler.config import Config
from crawler.config.errors import UsageError
from storage.labels import article_labels, set_label
from storage.queries import get_article
from storage.similar import similar_articles

COOKIE = "mediawatch_csrf"
MAX_FORM_BYTES = 4096
MARKS = {"relevant": True, "not-relevant": False, "clear": None}


class Feedback:
    """Relevance marks and similar articles for the article page, and the POST that marks."""

    def __init__(self, config: Config, archive: Archive) -> None:
        self.archive = archive
        self.topics = {t.id: t.name for t in config.topics}
        self._key = secrets.token_bytes(32)

    def routes(self) -> list[Route]:
        return [Route("/articles/{article_id}/labels", self.mark, methods=["POST"])]

    def _token(self, cookie: str) -> str:
        return hmac.new(self._key, cookie.encode("utf-8"), sha256).hexdigest()

    def page_context(self, request: Request, data: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """What the article page shows of marks and similar articles, and the CSRF cookie
        value (the browser's own, or a new one to set)."""
        cookie = request.cookies.get(COOKIE, "")
        if not (16 <= len(cookie) <= 64 and cookie.isalnum()):
            cookie = secrets.token_hex(16)
        with self.archive.db.read() as session:
            marks = article_labels(session, data["id"])
            similar = similar_articles(session, data["id"])
        return (
            {
                "label_topics": [
                    (t, name, marks.get(t), t in data["topics"]) for t, name in self.topics.items()
                ],
                "csrf_token": self._token(cookie),
                "similar": similar,
            },
            cookie,
        )

    @staticmethod
    def set_cookie(response: Response, cookie: str) -> None:
        """Give the browser its CSRF cookie (kept for a year; it holds no secret of ours)."""
        response.set_cookie(
            COOKIE, cookie, max_age=365 * 86400, path="/", httponly=True, samesite="strict"
        )

    async def mark(self, request: Request) -> Response:
        """POST /articles/{id}/labels: topic=ID&mark=relevant|not-relevant|clear&csrf=TOKEN;
        back to the article page (303) once stored."""
        if request.headers.get("sec-fetch-site") == "cross-site":
            return _refused("a form on another site cannot mark articles here")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return PlainTextResponse("form too large", status_code=413)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        cookie = request.cookies.get(COOKIE, "")
        if not cookie or not hmac.compare_digest(
            self._token(cookie).encode(), form.get("csrf", "").encode("utf-8", "replace")
        ):
            return _refused(
                "this form has expired or did not come from this page: reload the article "
                "page and mark again"
            )
        try:
            number = article_id(request.path_params["article_id"])
        except UsageError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        topic, mark = form.get("topic", ""), form.get("mark", "")
        if topic not in self.topics or mark not in MARKS:
            return PlainTextResponse(
                "topic must be a configured topic id and mark one of relevant, not-relevant, clear",
                status_code=400,
            )
        if not await run_in_threadpool(self._store, number, topic, MARKS[mark]):
            return PlainTextResponse("no such article", status_code=404)
        return RedirectResponse(f"/articles/{number}#marks", status_code=303)

    def _store(self, number: int, topic: str, relevant: bool | None) -> bool:
        with self.archive.db.write() as session:
            if get_article(session, number) is None:
                return False
            set_label(session, number, topic, relevant, datetime.now(UTC))
            return True


def _refused(why: str) -> Response:
    return PlainTextResponse(f"refused: {why}", status_code=403)
