"""Talking to a real `mediawatch web` from tests: start one, and send it any request."""

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crawler.config import Config, config_from_dict
from storage.db import Database
from tests.articles import open_db
from tests.conftest import wait_until, write_config
from tests.smtp import free_port


def http_request(
    url: str,
    headers: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    method: str = "GET",
    timeout: float = 30,
) -> tuple[int, Any, bytes]:
    """One HTTP request with any headers (an explicit Host included): status, headers, body."""
    request = urllib.request.Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def answers(url: str) -> bool:
    """Whether `url` answers 200 (False while the server is still starting)."""
    try:
        return http_request(url, timeout=10)[0] == 200
    except OSError:
        return False


@contextmanager
def web_server(
    config: Path, log: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[str]:
    """`mediawatch web` in its own process on a free port, once /healthz answers; its base URL.

    Its stderr goes to `log` when given, to explain a failure."""
    port = free_port()
    with log.open("ab") if log else open(os.devnull, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler", "--config", str(config), "web", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, **(env or {})},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(f"{base}/healthz to answer", lambda: answers(base + "/healthz"), 30)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def store_article(
    db: Any,
    config: Any,
    outlet: str,
    key: str,
    title: str,
    text: str,
    first_seen: Any,
    *,
    published: Any = "first_seen",
    date_source: str = "page",
    language: str | None = "en",
) -> Any:
    """Store one scored article with a language and a date of our choosing (None: no date)."""
    from alerts.assessment import assess
    from alerts.rules import RuleSet
    from crawler.extraction.page import fingerprint
    from storage.articles import NewArticle, NewMatch, insert_article

    assessment = assess(title, text, RuleSet(config.topics))
    new = NewArticle(
        url=f"https://{key}",
        url_key=key,
        outlet_id=outlet,
        title=title,
        text=text,
        published=first_seen if published == "first_seen" else published,
        date_source=date_source if published is not None else "none",
        score=assessment.total,
        simhash=fingerprint(text),
        language=language,
        matches=[
            NewMatch(m.topic, m.term, m.title_count, m.text_count) for m in assessment.matches
        ],
    )
    with db.write() as session:
        return insert_article(session, new, first_seen)


def artifacts_dir(tmp_path: Path) -> Path:
    """Where browser tests keep their screenshots: $MEDIAWATCH_TEST_ARTIFACTS, else `tmp_path`
    (printed, so a failing run says where to look)."""
    folder = Path(os.environ.get("MEDIAWATCH_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


def two_outlet_archive(folder: Path, url: str) -> tuple[Path, Config, Database]:
    """A configuration with Dawn and The Hindu and no web token, written to `folder`, and its
    database at `url`, migrated, with the outlets in it: what the web tests serve."""
    raw = {
        "database": {"url": url},
        "catalogue": {"include": []},
        "outlets": [
            {"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/f"]},
            {"id": "hindu", "name": "The Hindu", "feeds": ["https://hindu.example/f"]},
        ],
        "web": {"token": ""},
    }
    path = write_config(folder / "mediawatch.toml", raw)
    config = config_from_dict(raw, str(path))
    return path, config, open_db(config)
