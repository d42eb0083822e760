"""The command line as users meet it: help with examples, documented commands, exit codes."""

import re
from pathlib import Path

import click
import pytest

from crawler.cli.commands import cli
from tests.conftest import REPO, create_database, run_cli


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        found.append((full, cmd))
        if isinstance(cmd, click.Group):
            found.extend(commands(cmd, full + " "))
    return found


ALL = commands(cli)


@pytest.mark.parametrize(("name", "command"), ALL, ids=[n for n, _ in ALL])
def test_every_command_help_ends_with_an_example(name: str, command: click.Command) -> None:
    assert command.epilog and "Example:" in command.epilog and "mediawatch" in command.epilog


@pytest.mark.parametrize("name", [n for n, _ in ALL])
def test_every_command_is_in_the_readme(name: str) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"mediawatch {re.escape(name)}\b", readme), (
        f"`mediawatch {name}` not in README"
    )


def test_help_runs() -> None:
    result = run_cli("search", "--help")
    assert result.returncode == 0 and "Example:" in result.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    (tmp_path / "m.toml").write_text(f'[database]\nurl = "{db}"\n')
    cfg = str(tmp_path / "m.toml")
    assert run_cli("--config", cfg, "search", "--since", "yesterday-ish").returncode == 2
    assert run_cli("--config", cfg, "search", "--format", "xml").returncode == 2
    create_database(db)  # read-only commands never create one
    missing = run_cli("--config", cfg, "show", "999")
    assert missing.returncode == 1 and "no article with id 999" in missing.stderr


def test_scrapy_sees_the_spider() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "outlet" in result.stdout.split()


def test_readme_outlet_table_matches_the_catalogue() -> None:
    from spiders.outlets import catalogue_markdown

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- outlets:start -->\n")[1].split("\n<!-- outlets:end -->")[0]
    assert table == catalogue_markdown(), "regenerate the README table from catalogue_markdown()"


def test_rules_explain_a_file_and_stdin(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from crawler.demo.site import DemoArticle, article_html

    page = article_html(
        DemoArticle(
            path="/x",
            title="The TTP and the FATF grey list",
            author="A. Writer",
            published=datetime(2026, 11, 20, tzinfo=UTC),
            paragraphs=[
                "Militant attacks by the TTP in Khyber rose again this year, officials said, "
                "while Pakistan worked to stay off the FATF grey list. " * 3
            ],
        ),
        "Example Times",
        "https://example.org",
    )
    path = tmp_path / "page.html"
    path.write_text(page, encoding="utf-8")
    text = run_cli("rules", "explain", str(path), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "TTP" in text.stdout and "score =" in text.stdout and "log2" in text.stdout
    import json

    via_stdin = run_cli("rules", "explain", "-", "--format", "json", cwd=tmp_path, input=page)
    data = json.loads(via_stdin.stdout)
    assert {t["topic"] for t in data["topics"]} == {"ttp", "fatf"}
    ttp = next(m for m in data["matches"] if m["term"] == "TTP")
    assert ttp["in_title"] and ttp["count"] == 4
    assert data["score"] > 0
    missing = run_cli("rules", "explain", str(tmp_path / "nope.html"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_rules_explain_scores_plain_text_quietly(tmp_path: Path) -> None:
    import json

    oped = REPO / "crawler" / "demo" / "content" / "cismoa-oped.txt"
    text = run_cli("rules", "explain", str(oped), "--format", "json", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    data = json.loads(text.stdout)
    assert {t["topic"] for t in data["topics"]} == {"cismoa", "ttp", "fatf"}
    assert data["title"] == "" and data["words"] > 500  # its first line is a paragraph
    assert text.stderr == ""  # no trafilatura or htmldate lines
    pasted = "Renewing CISMOA\n\n" + oped.read_text(encoding="utf-8")
    via_stdin = run_cli("rules", "explain", "-", "--format", "json", cwd=tmp_path, input=pasted)
    data = json.loads(via_stdin.stdout)
    assert data["title"] == "Renewing CISMOA"
    assert any(m["term"] == "CISMOA" and m["in_title"] for m in data["matches"])
    not_html = run_cli("rules", "explain", "-", cwd=tmp_path, input="<p>x</p><div>y</div>")
    assert not_html.returncode == 1 and not_html.stderr.count("\n") == 1  # one line, no noise
    assert "no article text" in not_html.stderr


def test_demo_runs_offline_with_the_defaults(tmp_path: Path) -> None:
    import json

    result = run_cli("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Crawled 2 demo outlets: 5 new articles." in result.stdout
    assert "Renewing CISMOA" in result.stdout
    # Its own folder, never the archive a zero-configuration `mediawatch run` uses.
    assert [p.name for p in tmp_path.iterdir()] == ["mediawatch-demo"]
    assert len(list((tmp_path / "mediawatch-demo" / "outbox").glob("*.eml"))) == 3
    config = "mediawatch-demo/mediawatch.toml"
    assert f"mediawatch --config {config} search CISMOA" in result.stdout
    search = run_cli("--config", config, "search", "CISMOA", "--format", "json", cwd=tmp_path)
    assert search.returncode == 0 and len(json.loads(search.stdout)) == 2


def test_demo_keeps_away_from_a_configured_archive(tmp_path: Path) -> None:
    (tmp_path / "mediawatch.toml").write_text('[email]\nsmtp_host = "mail.example.org"\n')
    result = run_cli("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (tmp_path / "mediawatch.db").exists() and not (tmp_path / "outbox").exists()
    assert len(list((tmp_path / "mediawatch-demo" / "outbox").glob("*.eml"))) == 3
    assert "--config mediawatch-demo/mediawatch.toml" in result.stdout
