"""A new user's first day (issue 14, points 4, 8, 9, 11, 13 and 15): times in the reader's zone,
strict configuration in plain words, counts, `init`'s starter file, an idempotent demo that keeps
to its own archive, and every command quiet on a closed pipe."""

import json
import re
import tomllib
import types
import typing
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import click
import pytest
from pydantic import BaseModel

from crawler.cli.commands import cli
from crawler.config import Config, config_from_dict
from crawler.config.errors import PATTERN_WORDS, ConfigError
from tests.articles import open_db
from tests.conftest import REPO, cli_json, run_cli, write_config
from tests.test_alerts import FATF, Env, raw_config
from tests.web import http_request, web_server

# -- point 8: strict configuration, every message in plain words ----------------------------

# Entries a list-of-tables section needs before one bad key can be tried in it.
VALID_ENTRY: dict[str, dict[str, Any]] = {
    "topics": {"id": "t", "name": "T", "terms": ["x"]},
    "subscriptions": {"email": "a@example.org", "topics": ["t"]},
    "outlets": {"id": "o", "name": "O", "feeds": ["https://example.org/feed"]},
}


def _scalar(annotation: Any) -> Any:
    """The type a field holds, unwrapped from `X | None` and Annotated."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


def typed_keys(model: type[BaseModel] = Config, path: tuple[str, ...] = ()) -> list[Any]:
    """(path, kind) for every boolean, number and duration key of the model as it is now, so a
    key another change adds is held to the same rules without a line here."""
    found = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = field.alias or name
        kind = _scalar(field.annotation)
        if typing.get_origin(kind) is list:
            item = _scalar(typing.get_args(kind)[0])
            if isinstance(item, type) and issubclass(item, BaseModel):
                found += typed_keys(item, (*path, key, "[]"))
            elif item is timedelta:
                found.append(((*path, key), "durations"))
            continue
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            found += typed_keys(kind, (*path, key))
        elif kind in (bool, int, float, timedelta):
            found.append(((*path, key), kind.__name__))
    return found


def _with_value(path: tuple[str, ...], value: Any) -> tuple[dict[str, Any], str]:
    """A configuration holding `value` at `path`, and the key path an error must name."""
    data: dict[str, Any] = {"topics": [dict(VALID_ENTRY["topics"])]}
    node: Any = data
    shown = []
    for i, part in enumerate(path[:-1]):
        if path[i + 1] == "[]":
            entry = dict(VALID_ENTRY[part])
            node[part] = [entry] if part != "topics" else node[part]
            label = f"{part}[0]" + (f" (id {entry['id']!r})" if "id" in entry else "")
            node, shown = node[part][0], [*shown, label]
        elif part != "[]":
            node = node.setdefault(part, {})
            shown.append(part)
    node[path[-1]] = value
    return data, ".".join(shown + [path[-1]]).replace(".[", "[")


WRONG = {"bool": "yes", "int": "25", "float": "1.5", "timedelta": 30, "durations": [30]}


@pytest.mark.parametrize(
    ("path", "kind"), typed_keys(), ids=lambda v: v if isinstance(v, str) else ".".join(v)
)
def test_every_boolean_number_and_duration_is_strict(path: tuple[str, ...], kind: str) -> None:
    data, key = _with_value(path, WRONG[kind])
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, "m.toml")
    message = str(caught.value)
    assert key in message, message
    expected = {
        "bool": "must be true or false, without quotes",
        "int": "must be a whole number, without quotes",
        "float": "must be a number, without quotes",
        "timedelta": "a duration needs a unit",
        "durations": "a duration needs a unit",
    }[kind]
    assert expected in message and "Fix: write" in message, message


def test_every_pattern_in_the_model_is_said_in_words() -> None:
    """No `String should match pattern '^[a-z]{2,3}$'`: each pattern has its words."""
    patterns: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.add(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(Config.model_json_schema())
    assert patterns and patterns <= set(PATTERN_WORDS), patterns - set(PATTERN_WORDS)


BAD_FILE = """\
[crawl]
interval = 30
obey_robots = "yes"
max_age_days = "7"
intervall = "3m"

[email]
from = "nobody"
smtp_port = "25"

[alerts]
operator = "bad"

[[outlets]]
id = "Daily Chronicle"
name = "Daily Chronicle"
language = "urdu"
feeds = ["https://example.org/feed"]

[[subscriptions]]
email = "desk@example.org"
immediate = "no"
"""

EXPECTED_LINES = {
    "crawl.interval": 'a duration needs a unit (got 30). Fix: write "30s" for seconds or "30m"',
    "crawl.obey_robots": 'without quotes (got "yes"). Fix: write obey_robots = true.',
    "crawl.max_age_days": 'must be a whole number, without quotes (got "7"). Fix: write '
    "max_age_days = 7.",
    "crawl.intervall": "unknown key. Fix: did you mean interval?",
    "email.from": 'is not an email address: it has no @ (got "nobody"). Fix: write a full address',
    "email.smtp_port": "Fix: write smtp_port = 25.",
    "alerts.operator": "is not an email address",
    "outlets[0] (id 'Daily Chronicle').id": 'may hold only lowercase letters, digits and "-"',
    "outlets[0] (id 'Daily Chronicle').language": "two- or three-letter language code",
    "subscriptions[0].immediate": "Fix: write immediate = false.",
}


def test_strict_configuration_in_plain_words(tmp_path: Path) -> None:
    path = tmp_path / "mediawatch.toml"
    path.write_text(BAD_FILE, encoding="utf-8")
    result = run_cli("--config", str(path), "status", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert str(path) in result.stderr and "Traceback" not in result.stderr
    lines = {
        line.strip().split(": ", 1)[0]: line.strip()
        for line in result.stderr.splitlines()[1:]
        if line.strip()
    }
    for key, words in EXPECTED_LINES.items():
        assert key in lines, (key, result.stderr)
        assert words in lines[key], lines[key]
    assert len(lines) == len(EXPECTED_LINES), result.stderr
    for generic in ("should match pattern", "change this value", "(top level)", "Input should"):
        assert generic not in result.stderr


def test_one_address_subscribed_twice_names_both(tmp_path: Path) -> None:
    path = tmp_path / "mediawatch.toml"
    path.write_text(
        '[[subscriptions]]\nemail = "desk@example.org"\ntopics = ["fatf"]\n\n'
        '[[subscriptions]]\nemail = "other@example.org"\n\n'
        '[[subscriptions]]\nemail = "Desk@Example.org"\ntopics = ["ttp"]\n',
        encoding="utf-8",
    )
    result = run_cli("--config", str(path), "outlets", "list", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert (
        'subscriptions[0].email and subscriptions[2].email are both "desk@example.org"'
        in result.stderr
    )
    assert "Fix: merge them into one [[subscriptions]]" in result.stderr
    assert "(top level)" not in result.stderr


@pytest.mark.parametrize(
    "address",
    ["desk@example.org", "d.esk+mw@news.example.co.uk", "mediawatch@localhost", "ڈیسک@مثال.پاک"],
)
def test_real_addresses_are_accepted(address: str) -> None:
    config = config_from_dict({"subscriptions": [{"email": address}]}, "m.toml")
    assert config.subscriptions[0].email == address
    named = config_from_dict({"email": {"from": f"Media Watch <{address}>"}}, "m.toml")
    assert named.email.from_ == f"Media Watch <{address}>"


@pytest.mark.parametrize(
    "address", ["nobody", "@example.org", "desk@", "de sk@example.org", "desk@exa_mple.org"]
)
def test_broken_addresses_are_refused(address: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("subscriptions[0].email: is not an email")):
        config_from_dict({"subscriptions": [{"email": address}]}, "m.toml")


def test_durations_need_their_unit_in_the_starter_and_readme() -> None:
    """Every duration the project writes for users has a unit (a bare number is refused)."""
    from crawler.config import starter_config

    parsed = tomllib.loads(starter_config())
    assert isinstance(parsed["crawl"]["interval"], str)


# -- point 11: `init` writes every key, no live subscriber, and honours --config -----------

_ENTRY = re.compile(r"^# ?(\[\[?[a-z_]+\]\]?\s*$|[a-z_]+ = )")


def model_keys(model: type[BaseModel] = Config, section: str = "") -> set[tuple[str, str]]:
    """(section, key) for every key of the model as it is when the test runs."""
    keys = set()
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = field.alias or name
        kind = _scalar(field.annotation)
        if typing.get_origin(kind) is list:
            kind = _scalar(typing.get_args(kind)[0])
        if isinstance(kind, type) and issubclass(kind, BaseModel) and not section:
            keys |= model_keys(kind, key)
        else:
            keys.add((section, key))
    return keys


def starter_keys(text: str) -> set[tuple[str, str]]:
    """(section, key) for every key the file sets or shows commented out."""
    keys, section = set(), ""
    for line in text.splitlines():
        if _ENTRY.match(line):
            line = re.sub(r"^# ?", "", line)
        if header := re.match(r"^\[\[?([a-z_]+)\]\]?\s*$", line):
            section = header.group(1)
        elif entry := re.match(r"^([a-z_]+) = ", line):
            keys.add((section, entry.group(1)))
    return keys


def uncommented(text: str) -> str:
    return "\n".join(
        re.sub(r"^# ?", "", ln) if _ENTRY.match(ln) else ln for ln in text.splitlines()
    )


def test_init_writes_every_key_and_no_live_subscriber(tmp_path: Path) -> None:
    written = run_cli("init", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    text = (tmp_path / "mediawatch.toml").read_text(encoding="utf-8")
    missing = model_keys() - starter_keys(text)
    assert not missing, f"keys `mediawatch init` does not write: {sorted(missing)}"
    for key in ("run_timeout", "shutdown_grace", "smtp_timeout", "token", "operator"):
        assert any(k == key for _, k in starter_keys(text)), key
    # As written: the one subscriber is the default, whose alerts stay on this machine.
    config = config_from_dict(tomllib.loads(text), "starter")
    assert [s.email for s in config.subscriptions] == ["mediawatch@localhost"]
    assert config.email.smtp_host == ""
    assert "desk@example.org" not in [s.email for s in config.subscriptions]
    # Each commented line is a valid value: uncommented, the file still loads.
    every = config_from_dict(tomllib.loads(uncommented(text)), "uncommented")
    assert every.crawl.run_timeout == Config().crawl.run_timeout
    assert every.queue.name == "mediawatch-crawl" and every.web.token == ""


@pytest.mark.parametrize(
    "args",
    [
        ["--config", "other.toml", "init"],
        ["init", "--config", "other.toml"],
        ["init", "other.toml"],
    ],
    ids=["global --config", "init --config", "PATH"],
)
def test_init_honours_config(tmp_path: Path, args: list[str]) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["other.toml"]
    assert "mediawatch --config other.toml crawl" in result.stdout
    conflict = run_cli("--config", "a.toml", "init", "b.toml", "--force", cwd=tmp_path)
    assert conflict.returncode == 2 and "differ" in conflict.stderr


# -- point 13: the demo stores nothing twice and writes only into its own archive -----------


def _search(folder: Path) -> list[dict[str, Any]]:
    return list(cli_json("--config", str(folder / "mediawatch.toml"), "search", "--format", "json"))


def _demo_ids(folder: Path) -> list[int]:
    return sorted(r["id"] for r in _search(folder))


def test_demo_twice_stores_nothing_new(tmp_path: Path) -> None:
    first = run_cli("demo", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "demo archive:" in first.stderr and "mediawatch-demo/demo.db" in first.stderr
    folder = tmp_path / "mediawatch-demo"
    stored = _demo_ids(folder)
    assert len(stored) == 5
    emails = sorted(p.name for p in (folder / "outbox").glob("*.eml"))
    # The fixture site gets another port; the articles keep their URLs.
    second = run_cli("demo", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Crawled 2 demo outlets: 0 new articles" in second.stdout
    assert "0 alerts queued" in second.stdout
    assert _demo_ids(folder) == stored
    assert sorted(p.name for p in (folder / "outbox").glob("*.eml")) == emails
    urls = {r["url"] for r in _search(folder)}
    assert all(u.startswith("http://127.0.0.1/demo-") for u in urls), urls
    assert not (tmp_path / "mediawatch.db").exists()


def test_demo_refuses_an_archive_or_configuration_not_its_own(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    config = mine / "mediawatch.toml"
    config.write_text('[database]\nurl = "sqlite:///demo.db"\n', encoding="utf-8")
    refused = run_cli("demo", "--dir", str(mine), cwd=tmp_path)
    assert refused.returncode == 1, refused.stderr
    assert "is not the demo's configuration" in refused.stderr and "--dir" in refused.stderr
    assert config.read_text(encoding="utf-8").startswith("[database]")
    assert sorted(p.name for p in mine.iterdir()) == ["mediawatch.toml"]

    # A demo archive that has come to hold another outlet's articles is left alone too.
    demo = tmp_path / "d"
    assert run_cli("demo", "--dir", str(demo), cwd=tmp_path).returncode == 0
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{demo / 'demo.db'}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE articles SET outlet_id = 'dawn' WHERE id = 1"))
    engine.dispose()
    before = (demo / "demo.db").stat().st_mtime_ns
    again = run_cli("demo", "--dir", str(demo), cwd=tmp_path)
    assert again.returncode == 1, again.stderr
    line = next(ln for ln in again.stderr.splitlines() if ln.startswith("mediawatch: error:"))
    assert "holds articles of other outlets (dawn)" in line and "Traceback" not in again.stderr
    assert (demo / "demo.db").stat().st_mtime_ns == before


# -- point 4: times in the reader's zone, the zone named ------------------------------------

# 20:00 UTC on the 25th is 01:00 on the 26th in Karachi (UTC+5).
EVENING = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
KARACHI = "Asia/Karachi"


def karachi_env(tmp: Path, display_zone: str = KARACHI) -> Env:
    tmp.mkdir(exist_ok=True)
    raw = raw_config(tmp, None)
    raw["subscriptions"] = [
        {"email": "analyst@example.org", "timezone": KARACHI, "digest": "daily@08:00"}
    ]
    raw["web"] = {"timezone": display_zone}
    env = Env.__new__(Env)
    env.raw = raw
    env.path = write_config(tmp / "mediawatch.toml", raw)
    env.config = config_from_dict(raw, str(env.path))
    env.db = open_db(env.config)
    return env


def test_alert_email_shows_published_in_the_subscribers_zone(tmp_path: Path) -> None:
    env = karachi_env(tmp_path)
    env.store("hindu", "hindu.example/fatf", "After the grey list", FATF, EVENING)
    assert env.flush(EVENING).sent == 1
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Published: 2026-11-26 01:00 Asia/Karachi" in text, text
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "2026-11-26 01:00 Asia/Karachi" in html and "UTC" not in html


def test_digest_preview_labels_its_period_in_the_subscribers_zone(tmp_path: Path) -> None:
    env = karachi_env(tmp_path)
    preview = env.cli("digest", "--preview")
    assert preview.returncode == 0, preview.stderr
    label = next(ln for ln in preview.stdout.splitlines() if ln.startswith("first seen"))
    # daily@08:00 in Karachi: from one 08:00 to the next, local times, the zone named.
    assert re.fullmatch(
        r"first seen \d{4}-\d\d-\d\d 08:00 to \d{4}-\d\d-\d\d 08:00 Asia/Karachi", label
    ), label
    # What a first day's empty preview means, and how to see the articles now (stderr).
    assert "articles stored since then go in the next one" in preview.stderr
    assert "mediawatch digest --since 1d --preview" in preview.stderr
    with_since = env.cli("digest", "--preview", "--since", "1d")
    assert "next one" not in with_since.stderr


def test_cli_reads_and_shows_dates_in_the_display_zone(tmp_path: Path) -> None:
    env = karachi_env(tmp_path)
    row = env.store("hindu", "hindu.example/fatf", "After the grey list", FATF, EVENING)
    # A date without a zone is a day in the display zone: the 26th began at 19:00 UTC on
    # the 25th in Karachi, so the article (01:00 there) is on the 26th.
    found = cli_json(
        "--config", str(env.path), "search", "--since", "2026-11-26", "--format", "json"
    )
    assert [r["id"] for r in found] == [row.id]
    assert found[0]["published"].startswith("2026-11-25T20:00")  # JSON stays UTC
    table = env.cli("search", "--since", "2026-11-26").stdout.splitlines()
    assert "2026-11-26" in next(ln for ln in table if "After the grey list" in ln)
    assert table[-1] == "1–1 of 1 articles (dates in Asia/Karachi)"
    shown = env.cli("show", str(row.id)).stdout
    assert "published 2026-11-26 01:00 Asia/Karachi (page)" in shown
    listing = env.cli("alerts", "list").stdout.splitlines()
    assert "WHEN (Asia/Karachi)" in listing[0], listing[0]

    # The same archive shown in UTC (the default): the 26th starts later, after the article.
    utc = karachi_env(tmp_path / "utc", display_zone="UTC")
    utc.store("hindu", "hindu.example/fatf", "After the grey list", FATF, EVENING)
    assert (
        cli_json("--config", str(utc.path), "search", "--since", "2026-11-26", "--format", "json")
        == []
    )
    assert "published 2026-11-25 20:00 UTC (page)" in utc.cli("show", "1").stdout


# -- point 9: counts in the table and the API --------------------------------------------------


def test_search_counts_in_the_table_and_the_api(tmp_path: Path) -> None:
    env = karachi_env(tmp_path, display_zone="UTC")
    for n in range(5):
        env.store("dawn", f"dawn.example/fatf-{n}", f"Grey list {n}", FATF, EVENING)
    first = env.cli("search", "--limit", "2").stdout.splitlines()
    assert first[-1] == "1–2 of 5 articles (dates in UTC); --offset 2 for the next 2"
    last = env.cli("search", "--limit", "2", "--offset", "4").stdout.splitlines()
    assert last[-1] == "5–5 of 5 articles (dates in UTC)"
    # JSON is the contract's array, nothing added.
    page = cli_json("--config", str(env.path), "search", "--limit", "2", "--format", "json")
    assert isinstance(page, list) and len(page) == 2
    csv = env.cli("search", "--limit", "2", "--format", "csv").stdout.splitlines()
    assert len(csv) == 3 and " of 5" not in csv[-1]

    with web_server(env.path) as base:
        status, headers, body = http_request(f"{base}/api/articles?limit=2&offset=1")
        assert status == 200 and headers["X-Total-Count"] == "5"
        assert len(json.loads(body)) == 2
        status, headers, _ = http_request(f"{base}/api/articles?q=nosuchword")
        assert status == 200 and headers["X-Total-Count"] == "0"


# -- point 15: the README documents every command and option; global options give a hint ---


def _commands() -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = []

    def walk(group: click.Group, path: tuple[str, ...]) -> None:
        for name, command in sorted(group.commands.items()):
            if isinstance(command, click.Group):
                walk(command, (*path, name))
            else:
                found.append(((*path, name), command))

    walk(cli, ())
    return found


@pytest.mark.parametrize(
    ("words", "command"), _commands(), ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_command_and_option_is_in_the_readme(
    words: tuple[str, ...], command: click.Command
) -> None:
    """The README's command table has a row for each command (as the CLI has it when the test
    runs), naming each of its options."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    prefix = "| `mediawatch " + " ".join(words)
    rows = " ".join(
        line
        for line in readme.splitlines()
        if line.startswith(prefix + " ") or line.startswith(prefix + "`")
    )
    assert rows, f"no row for `mediawatch {' '.join(words)}` in the README's command table"
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "config_path":
            assert any(opt in rows for opt in param.opts), (param.opts, rows)


def test_readme_covers_the_operators_day() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for words in (
        '".backup',
        "pg_dump",
        "## Upgrading",
        "upgrades itself",
        "mediawatch rules apply",
        "mediawatch alerts test",
        "resolve against the directory of that file",
        "pip install -e '.[postgres]'",
        "`mediawatch -v crawl`",
        "--since 2026-11-20",
        "X-Total-Count",
    ):
        assert words in readme, words
    assert "pip install 'mediawatch[postgres]'" not in readme  # one install story: the clone


@pytest.mark.parametrize(
    ("args", "moved"),
    [
        (["crawl", "-v"], "mediawatch -v crawl"),
        (["alerts", "list", "--log-format", "json"], "mediawatch --log-format json alerts list"),
    ],
)
def test_a_global_option_after_the_command_says_where_it_goes(
    tmp_path: Path, args: list[str], moved: str
) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert f"is a global option, so it goes before the command: `{moved}`" in result.stderr
    assert result.stderr.count("global option") == 1 and "Traceback" not in result.stderr
