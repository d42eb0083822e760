"""`mediawatch outlets check`: fetch each source once and say what is wrong with it.

This is the live coverage check users run (never part of CI). Plain urllib in threads is
enough for one request per source; the verdicts come from spiders.diagnosis, as in crawls.
"""

import http.client
import socket
import urllib.error
import urllib.robotparser
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from crawler.cli.webfetch import Fetch, network_policy
from crawler.config import Config
from spiders.addresses import NetworkPolicy, RefusedURL
from spiders.diagnosis import diagnose, read_items
from spiders.outlets import Outlet
from spiders.sitemaps import read_sitemap_body

MAX_BYTES = 20 * 1024 * 1024
WORKERS = 8


@dataclass
class SourceReport:
    """One source's verdict in `outlets check`."""

    outlet: str
    kind: str
    url: str
    status: int | None
    final_url: str | None
    items: int | None
    newest: str | None
    robots: str
    diagnosis: str
    detail: str
    error_kind: str | None = None  # as `crawl` counts it (dns, timeout, blocked...); ok: None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _fetch(
    url: str, user_agent: str, timeout: float, policy: NetworkPolicy
) -> tuple[int, bytes, str, bool]:
    fetch = Fetch(policy)
    headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
    try:
        with fetch.open(url, headers, timeout) as response:
            return (
                response.status,
                response.read(MAX_BYTES),
                response.geturl(),
                fetch.redirects.permanent,
            )
    except urllib.error.HTTPError as exc:
        body = exc.read(MAX_BYTES) if exc.fp else b""
        return exc.code, body, exc.geturl(), fetch.redirects.permanent


def _robots(url: str, user_agent: str, timeout: float, policy: NetworkPolicy) -> str:
    parts = urlsplit(url)
    robots_url = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
    parser = urllib.robotparser.RobotFileParser()
    try:
        status, body, _, _ = _fetch(robots_url, user_agent, timeout, policy)
    except RefusedURL:
        return "unknown (robots.txt refused by the network guard)"
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
        return "unknown (robots.txt unreachable)"
    if status in (401, 403):
        return "disallowed (robots.txt forbidden)"
    if status >= 400:
        return "allowed (no robots.txt)"
    parser.parse(body.decode("utf-8", "replace").splitlines())
    return "allowed" if parser.can_fetch(user_agent, url) else "disallowed"


def check_source(
    outlet: Outlet,
    kind: str,
    url: str,
    config: Config,
    now: datetime,
    policy: NetworkPolicy | None = None,
) -> SourceReport:
    """Fetch one source once and diagnose it; a malformed or refused answer is its verdict."""
    ua, timeout = config.crawl.user_agent, config.crawl.timeout.total_seconds()
    policy = policy or network_policy(config)
    max_age = timedelta(days=config.crawl.max_age_days)
    robots = _robots(url, ua, timeout, policy) if config.crawl.obey_robots else "not checked"

    def failed(verdict: str, error_kind: str, detail: str) -> SourceReport:
        return SourceReport(
            outlet.id, kind, url, None, None, None, None, robots, verdict, detail, error_kind
        )

    try:
        status, body, final_url, permanent = _fetch(url, ua, timeout, policy)
    except RefusedURL as exc:
        return failed("refused", "refused", f"not fetched: {exc}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error_kind, reason = connection_failure(exc, urlsplit(url).hostname or url, timeout)
        return failed("unreachable", error_kind, f"{error_kind}: {reason}"[:300])
    except http.client.HTTPException as exc:
        # The server answered, but not in HTTP (a bad status line, a truncated body...).
        detail = f"malformed HTTP response: {type(exc).__name__}: {exc}"
        return failed("error", "connection", detail[:300])
    body = read_sitemap_body(body) or b""
    items = read_items(kind, body, final_url, outlet.article_url_pattern) if status < 400 else None
    moved_to = final_url if permanent and final_url != url else None
    verdict = diagnose(status, body, items, moved_to, now, max_age)
    if robots.startswith("disallowed") and verdict == "ok":
        verdict = "robots"
    detail = {
        "ok": f"{items.count if items else 0} items",
        "blocked": f"HTTP {status}: the site refuses this crawler",
        "gone": f"HTTP {status}: the URL no longer exists",
        "error": f"HTTP {status}",
        "challenge": "a bot-challenge page instead of content",
        "invalid": items.parse_problem if items and items.parse_problem else "",
        "empty": "no items",
        "stale": f"newest item is older than {config.crawl.max_age_days} days",
        "moved": f"permanently redirected to {moved_to}: update the URL",
        "robots": "robots.txt disallows this URL for our user agent",
    }[verdict]
    return SourceReport(
        outlet.id,
        kind,
        url,
        status,
        final_url,
        items.count if items else None,
        items.newest.isoformat() if items and items.newest else None,
        robots,
        verdict,
        detail,
        http_error_kind(status) if status >= 400 else _ERROR_KINDS.get(verdict),
    )


# Verdicts on a page that came back, as the crawl error kinds they are (moved and stale are
# not errors to a crawl, so they have none).
_ERROR_KINDS = {"challenge": "challenge", "invalid": "parse", "empty": "empty", "robots": "robots"}


def http_error_kind(status: int) -> str:
    """The kind a crawl counts an HTTP error status as (spiders.outlet.classify_failure)."""
    if status in (404, 410):
        return "gone"
    if status in (401, 403, 429, 451):
        return "blocked"
    return "http_5xx" if status >= 500 else "http_4xx"


def connection_failure(exc: Exception, host: str, timeout: float) -> tuple[str, str]:
    """(kind, reason) for a source that could not be fetched, in the words `crawl` uses:
    `dns`, `timeout` or `connection` (a raw `[Errno -2]` helps nobody)."""
    cause: object = exc
    while isinstance(cause, urllib.error.URLError):
        cause = cause.reason  # urllib wraps the socket's error in URLError
    if isinstance(cause, socket.gaierror):
        return "dns", f"{host} does not resolve ({cause.strerror or cause})"
    if isinstance(cause, TimeoutError):
        return "timeout", f"no answer within {timeout:g}s"
    if isinstance(cause, ConnectionRefusedError):
        return "connection", "connection refused"
    if isinstance(cause, OSError) and "not a valid host name" in str(cause):
        return "dns", str(cause)  # spiders.addresses.resolve_host: a name DNS cannot encode
    if isinstance(cause, ValueError) and not isinstance(cause, OSError):
        return "parse", f"not a fetchable URL: {cause}"
    if isinstance(cause, BaseException):
        return "connection", f"{type(cause).__name__}: {cause}"
    return "connection", str(cause)


def check_outlets(
    config: Config,
    outlets: list[Outlet],
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> list[SourceReport]:
    """Every source of every outlet, checked in parallel, reported in catalogue order;
    `progress(done, total)` is called as each one finishes."""
    jobs = [(o, kind, url) for o in outlets for kind, url in o.sources()]
    policy = network_policy(config)
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [
            pool.submit(check_source, o, kind, url, config, now, policy) for o, kind, url in jobs
        ]
        for done, _ in enumerate(as_completed(futures), 1):
            if progress:
                progress(done, len(futures))
        return [f.result() for f in futures]
