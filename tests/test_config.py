"""mediawatch.toml: defaults, discovery, the starter file, and errors that say how to fix them."""

import re
import stat
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from crawler.config import Config, config_from_dict, load_config, starter_config
from crawler.config.errors import REQUIRED_EXAMPLES, ConfigError
from crawler.settings import RETRY_HTTP_CODES
from spiders.durations import format_duration, parse_duration
from tests.conftest import run_cli


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEDIAWATCH_CONFIG", raising=False)
    c = load_config()
    assert c.database.url == "sqlite:///mediawatch.db"
    assert c.email.smtp_host == "" and c.email.outbox_dir == "outbox"
    assert [t.id for t in c.topics] == ["cismoa", "ttp", "fatf"]
    assert [(s.email, s.min_score, s.digest, s.timezone) for s in c.subscriptions] == [
        ("mediawatch@localhost", 1.0, "daily@07:00", "UTC")
    ]
    assert len(c.active_outlets()) >= 30


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mediawatch.toml").write_text('[crawl]\ninterval = "2h"\n')
    env = tmp_path / "env.toml"
    env.write_text('[crawl]\ninterval = "3h"\n')
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('[crawl]\ninterval = "4h"\n')
    monkeypatch.delenv("MEDIAWATCH_CONFIG", raising=False)
    assert format_duration(load_config().crawl.interval) == "2h"
    monkeypatch.setenv("MEDIAWATCH_CONFIG", str(env))
    assert format_duration(load_config().crawl.interval) == "3h"
    assert format_duration(load_config(str(explicit)).crawl.interval) == "4h"


def test_starter_file_is_valid_and_matches_defaults() -> None:
    c = config_from_dict(tomllib.loads(starter_config()), "starter")
    assert [t.id for t in c.topics] == ["cismoa", "ttp", "fatf"]
    # No live placeholder subscriber: the default one, whose alerts are .eml files.
    assert [s.email for s in c.subscriptions] == ["mediawatch@localhost"]
    assert c.email.smtp_host == ""


@pytest.mark.parametrize(
    ("toml", "key", "hint"),
    [
        ('[crawl]\ninterval = "soon"\n', "crawl.interval", '"15m"'),
        ("[crawl]\nintervall = 3\n", "crawl.intervall", "unknown key"),
        ("[crawl]\nmax_age_days = 0\n", "crawl.max_age_days", "max_age_days = 1 or more"),
        ('[crawl]\nobey_robots = "maybe"\n', "crawl.obey_robots", "true or false"),
        ('[database]\nurl = "mysql://x"\n', "database.url", "sqlite:///"),
        (
            '[[outlets]]\nid = "Bad Id"\nname = "x"\nfeeds = ["https://e.org/f"]\n',
            "outlets[0] (id 'Bad Id').id",
            "lowercase letters, digits",
        ),
        ('[[outlets]]\nid = "x"\nname = "x"\n', "outlets[0] (id 'x')", "at least one of feeds"),
        ('[[outlets]]\nid = "x"\nname = "x"\nfeeds = ["ftp://e.org/f"]\n', "feeds", "http(s)"),
        (
            '[[outlets]]\nid = "x"\nname = "x"\nlistings = ["https://e.org/"]\n'
            'article_url_pattern = "(("\n',
            "article_url_pattern",
            "regular expression",
        ),
        (
            '[[subscriptions]]\nemail = "a@b.org"\ntimezone = "Mars/Base"\n',
            "timezone",
            "Asia/Karachi",
        ),
        ('[[subscriptions]]\nemail = "a@b.org"\ndigest = "hourly"\n', "digest", "daily@HH:MM"),
        (
            '[[subscriptions]]\nemail = "a@b.org"\ntopics = ["nope"]\n',
            "subscriptions[0].topics",
            "unknown topics",
        ),
        ('[catalogue]\ninclude = ["XX"]\n', "catalogue.include", "country code"),
        # An empty list that would silently select nothing.
        (
            '[[subscriptions]]\nemail = "a@b.org"\ntopics = []\n',
            "subscriptions[0].topics",
            "subscriptions[0].topics: an empty list selects no topic, so this subscription would "
            'get nothing. Fix: list topic ids (topics = ["cismoa"]), or remove the key for every '
            "topic.",
        ),
        (
            "[web]\nallowed_hosts = []\n",
            "web.allowed_hosts",
            "web.allowed_hosts: an empty list answers no host name, so the web UI would refuse",
        ),
        ("not toml at all [", "", "not valid TOML"),
    ],
)
def test_bad_configuration_names_file_key_and_fix(
    tmp_path: Path, toml: str, key: str, hint: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    result = run_cli("--config", str(path), "outlets", "list")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr and key in result.stderr and hint in result.stderr


@pytest.mark.parametrize("where", ["before", "group", "after"])
def test_config_option_before_or_after_the_command(tmp_path: Path, where: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[catalogue]\ninclude = ["BD"]\n')
    args = {
        "before": ["--config", str(path), "outlets", "list", "--format", "json"],
        "group": ["outlets", "--config", str(path), "list", "--format", "json"],
        "after": ["outlets", "list", "--format", "json", "--config", str(path)],
    }[where]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "daily-star" in result.stdout and "dawn" not in result.stdout


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("--config", str(tmp_path / "nope.toml"), "status")
    assert result.returncode == 2 and "no such configuration file" in result.stderr


def test_init_writes_a_working_starter(tmp_path: Path) -> None:
    assert run_cli("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "mediawatch.toml").exists()
    again = run_cli("init", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    assert run_cli("outlets", "list", cwd=tmp_path).returncode == 0


def test_durations() -> None:
    assert parse_duration("90s").total_seconds() == 90
    assert parse_duration("15m").total_seconds() == 900
    assert parse_duration("2h").total_seconds() == 7200
    assert parse_duration("1d").total_seconds() == 86400
    for bad in ("", "5", "5x", "-5m", "0s"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert format_duration(parse_duration("90s")) == "90s"
    assert format_duration(parse_duration("120m")) == "2h"


def test_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        config_from_dict({"crawl": {"interval": 5j}}, "x.toml")


def test_init_writes_the_file_for_its_owner_only(tmp_path: Path) -> None:
    assert run_cli("init", "a.toml", cwd=tmp_path).returncode == 0
    assert stat.S_IMODE((tmp_path / "a.toml").stat().st_mode) == 0o600
    loose = tmp_path / "b.toml"
    loose.write_text("")
    loose.chmod(0o644)
    assert run_cli("init", "b.toml", "--force", cwd=tmp_path).returncode == 0
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[database]\nurl = "postgresql+pg8000://mw:hunter2@db.example/mw"\n', "database.url"),
        ('[database]\nurl = "postgresql+psycopg://mw:hunter2@db:port/mw"\n', "database.url"),
        ('[queue]\nurl = "http://:hunter2@redis.example"\n', "queue.url"),
        (
            '[[outlets]]\nid = "x"\nname = "x"\nfeeds = ["ftp://me:hunter2@e.org/f"]\n',
            "feeds",
        ),
        ("[web]\ntoken = 12345\n", "web.token"),
    ],
)
def test_configuration_errors_never_echo_a_secret(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml.replace("12345", "987654321"))
    result = run_cli("--config", str(path), "status")
    assert result.returncode == 2 and key in result.stderr and "Fix:" in result.stderr
    assert "hunter2" not in result.stderr and "987654321" not in result.stderr


def test_web_token_from_the_environment_and_allowed_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = {"web": {"token": "in-file", "host": "::1"}}
    assert config_from_dict(raw, "x").web.token == "in-file"
    monkeypatch.setenv("MEDIAWATCH_WEB_TOKEN", "from-env")
    web = config_from_dict(raw, "x").web
    assert web.token == "from-env"
    assert web.trusted_hosts() == ["localhost", "127.0.0.1", "[::1]"]
    assert "news.example.org" in web.trusted_hosts("news.example.org")
    hosts = {"web": {"allowed_hosts": ["*.example.org", "10.0.0.5"]}}
    assert config_from_dict(hosts, "x").web.trusted_hosts("0.0.0.0") == [
        "*.example.org",
        "10.0.0.5",
    ]
    with pytest.raises(ConfigError, match="web.allowed_hosts"):
        config_from_dict({"web": {"allowed_hosts": ["ex*ample.org"]}}, "x")


def test_errors_across_entries_come_in_the_same_run_as_the_others(tmp_path: Path) -> None:
    """Not one round per kind: a per-key error, duplicate ids and addresses and unknown topics,
    every one of them listed at once."""
    path = tmp_path / "mediawatch.toml"
    path.write_text(
        '[crawl]\nobey_robots = "yes"\n\n'
        '[[outlets]]\nid = "x"\nname = "X"\nfeeds = ["https://e.org/f"]\n'
        '[[outlets]]\nid = "x"\nname = "X again"\nfeeds = ["https://e.org/g"]\n\n'
        '[[topics]]\nid = "ttp"\nname = "TTP"\nterms = ["TTP"]\n'
        '[[topics]]\nid = "ttp"\nname = "TTP"\nterms = ["Pakistani Taliban"]\n'
        '[[topics]]\nid = "fatf"\nname = "FATF"\nterms = ["FATF"]\n'
        '[[topics]]\nid = "fatf"\nname = "FATF"\n\n'  # also a per-entry error: no terms
        '[[subscriptions]]\nemail = "desk@example.org"\ntopics = ["nope"]\n'
        '[[subscriptions]]\nemail = "Desk@example.org"\n'
        '[[subscriptions]]\nemail = "desk@example.org "\ntopics = ["ttp", "cpec"]\n'
        '[[subscriptions]]\nemail = "desk"\n'
    )
    result = run_cli("--config", str(path), "outlets", "list")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for line in [
        "crawl.obey_robots: must be true or false",
        "topics[3] (id 'fatf'): topic 'fatf' has neither terms nor a query",
        "subscriptions[3].email: is not an email address",
        'outlets[0].id and outlets[1].id are both "x"',
        'topics[0].id and topics[1].id are both "ttp"',
        'topics[2].id and topics[3].id are both "fatf"',
        "subscriptions[0].email, subscriptions[1].email and subscriptions[2].email are all "
        '"desk@example.org"',
        'subscriptions[0].topics: names unknown topics "nope"; the topics defined are '
        '"fatf", "ttp".',
        'subscriptions[2].topics: names unknown topics "cpec"',
    ]:
        assert f"\n  {line}" in result.stderr, (line, result.stderr)
    assert result.stderr.count(" Fix: ") == 9, result.stderr


@pytest.mark.parametrize(
    ("toml", "fixes"),
    [
        ("[[topics]]\n", ['topics[0].id: required key is missing. Fix: add id = "cismoa".']),
        (
            '[[topics]]\nid = "cismoa"\nname = "CISMOA"\nterms = ["CISMOA"]\n\n[[topics]]\n',
            [
                'topics[1].id: required key is missing. Fix: add id = "cismoa".',
                'topics[1].name: required key is missing. Fix: add name = "CISMOA".',
            ],
        ),
        (
            '[[outlets]]\nfeeds = ["https://e.org/f"]\n',
            [
                'outlets[0].id: required key is missing. Fix: add id = "daily-chronicle".',
                'outlets[0].name: required key is missing. Fix: add name = "Daily Chronicle".',
            ],
        ),
    ],
)
def test_a_missing_required_key_is_fixed_with_an_example_value(
    tmp_path: Path, toml: str, fixes: list[str]
) -> None:
    path = tmp_path / "mediawatch.toml"
    path.write_text(toml)
    result = run_cli("--config", str(path), "outlets", "list")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    for fix in fixes:
        assert f"\n  {fix}\n" in result.stderr + "\n", (fix, result.stderr)


def test_every_required_key_has_an_example_for_its_fix() -> None:
    """A key added to the model without a default needs its example in REQUIRED_EXAMPLES."""
    required: set[tuple[str, str]] = set()
    for table, field in Config.model_fields.items():
        kind = field.annotation
        while getattr(kind, "__args__", None):
            kind = next(a for a in kind.__args__ if a is not type(None))
        if not (isinstance(kind, type) and issubclass(kind, BaseModel)):
            continue  # `source`, not a table of the file
        for name, sub in kind.model_fields.items():
            if sub.is_required():
                required.add((table, sub.alias or name))
    assert ("topics", "id") in required and ("outlets", "name") in required
    assert required <= set(REQUIRED_EXAMPLES), required - set(REQUIRED_EXAMPLES)
    for (table, key), example in REQUIRED_EXAMPLES.items():
        # Each example is a valid value: writing it fixes the error it is shown for.
        sources = "feeds" if table == "outlets" else "terms"
        entry = {"id": "x", "name": "X", sources: ["https://e.org/f"]}
        config_from_dict({table: [{**entry, key: tomllib.loads(f"v = {example}")["v"]}]}, "m")


def test_the_starter_file_says_what_the_code_does(tmp_path: Path) -> None:
    """`mediawatch init`'s comments and the README's example agree with the code."""
    assert run_cli("init", cwd=tmp_path).returncode == 0
    starter = (tmp_path / "mediawatch.toml").read_text(encoding="utf-8")
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n[database]", 1)[1].split("```", 1)[0]

    def comment(text: str, key: str) -> str:
        """The comment on `key`'s line and the comment-only lines continuing it."""
        lines = text.splitlines()
        at = next(i for i, line in enumerate(lines) if line.lstrip("# ").startswith(f"{key} ="))
        said = [lines[at].split("  # ", 1)[1]]
        for line in lines[at + 1 :]:
            if not re.match(r"^#? {20,}# ", line):
                break
            said.append(line.split("# ", 2)[-1])
        return " ".join(said)

    for text in (starter, example):
        retries = comment(text, "retries")
        assert {int(c) for c in re.findall(r"\b\d{3}\b", retries)} == set(RETRY_HTTP_CODES)
        assert "timeouts" in retries and "connections" in retries and "5xx" not in retries
        unhealthy = comment(text, "unhealthy_after_runs")
        assert "without a new article" in unhealthy and "stale" in unhealthy, unhealthy
        assert "per outlet" in comment(text, "max_child_sitemaps")
        assert "first in the file" in comment(text, "max_sitemap_entries")
        assert "one host" in comment(text, "concurrency_per_outlet")
    assert "failed runs in a row" not in starter and "newest first; the rest waits" not in starter
