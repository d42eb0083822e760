"""`rules test`, `rules apply`, `rules eval`, and the warning when the configured topics are not
the ones the archive was scored with: through the CLI, on a fixture archive, SQLite and
PostgreSQL."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from crawler.archive.rulestate import note_crawl_rules, rules_fingerprint
from crawler.config import config_from_dict
from storage.labels import set_label
from storage.models import AlertRow, ArticleRow, CrawlRunRow, MatchRow
from tests.articles import open_db, store
from tests.conftest import cli_json, run_cli, write_config

NOW = datetime.now(UTC)
OLD_TOPICS = [
    {"id": "fatf", "name": "FATF", "terms": ["FATF", "grey list"]},
    {"id": "ttp", "name": "TTP", "terms": ["TTP"], "context": ["Taliban"]},
]
# Narrowed: "grey list" alone no longer counts; CPEC is new.
NEW_TOPICS = [
    {"id": "fatf", "name": "FATF", "terms": ["FATF"]},
    {"id": "ttp", "name": "TTP", "terms": ["TTP"], "context": ["Taliban"]},
    {"id": "cpec", "name": "CPEC", "terms": ["CPEC", "China-Pakistan Economic Corridor"]},
]
ARTICLES = {
    "both": ("FATF and the grey list", "The FATF kept Pakistan off the grey list this year."),
    "grey_only": ("Birds on a grey list", "Conservationists put the crane on a grey list."),
    "grey_cpec": (
        "Grey list and the corridor",
        "Leaving the grey list helps CPEC, the China-Pakistan Economic Corridor.",
    ),
    "fatf_only": ("FATF plenary", "The FATF plenary meets in Paris in February."),
    "ttp": ("Attack in Khyber", "The TTP, the Pakistani Taliban, claimed the attack."),
    "none": ("Cricket", "Pakistan won the toss and chose to bat first at Lahore."),
}


def _config(tmp_path: Path, url: str, topics: list[dict[str, Any]], name: str) -> Path:
    raw = {
        "database": {"url": url},
        "catalogue": {"include": []},
        "outlets": [{"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/f"]}],
        "topics": topics,
        "subscriptions": [{"email": "desk@example.org", "min_score": 0.5}],
    }
    return write_config(tmp_path / name, raw)


@pytest.fixture
def archive(tmp_path: Path, db_url: str) -> dict[str, Any]:
    """Six articles scored with OLD_TOPICS and alerted; a crawl ran after them."""
    old = _config(tmp_path, db_url, OLD_TOPICS, "old.toml")
    new = _config(tmp_path, db_url, NEW_TOPICS, "new.toml")
    config = config_from_dict({**json.loads(json.dumps({})), **_raw(old)}, str(old))
    db = open_db(config)
    ids = {}
    for i, (key, (title, text)) in enumerate(ARTICLES.items()):
        row = store(db, config, "dawn", f"dawn.example/{key}", title, text, NOW - timedelta(days=i))
        ids[key] = row.id
    with db.write() as session:
        session.add(CrawlRunRow(outlet_id="dawn", started_at=NOW - timedelta(minutes=5)))
        note_crawl_rules(session, rules_fingerprint(config.topics), NOW)
    db.dispose()
    return {"old": old, "new": new, "ids": ids, "url": db_url, "tmp": tmp_path}


def _raw(path: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(path.read_text("utf-8"))


def test_narrowing_a_rule_lists_exactly_the_articles_lost(archive: dict[str, Any]) -> None:
    ids = archive["ids"]
    result = cli_json("rules", "test", "--config", str(archive["new"]), "--format", "json")
    assert result == [
        {
            "topic": "fatf",
            "matching_now": 4,
            "would_match": 2,
            "gained": [],
            "lost": sorted([ids["grey_only"], ids["grey_cpec"]]),
        },
        {"topic": "ttp", "matching_now": 1, "would_match": 1, "gained": [], "lost": []},
        {
            "topic": "cpec",
            "matching_now": 0,
            "would_match": 1,
            "gained": [ids["grey_cpec"]],
            "lost": [],
        },
    ]
    for entry in result:
        assert list(entry) == ["topic", "matching_now", "would_match", "gained", "lost"]
    # The same configuration as stored changes nothing.
    same = cli_json("rules", "test", "--config", str(archive["old"]), "--format", "json")
    assert all(not e["gained"] and not e["lost"] for e in same)
    # --topic and --since narrow it; the text lists titles, outlets, dates and scores.
    only = cli_json(
        "rules", "test", "--config", str(archive["new"]), "--topic", "fatf", "--since", "2d",
        "--format", "json",
    )  # fmt: skip
    assert only == [
        {
            "topic": "fatf",
            "matching_now": 2,
            "would_match": 1,
            "gained": [],
            "lost": [ids["grey_only"]],
        }
    ]
    text = run_cli("rules", "test", "--config", str(archive["new"]))
    assert text.returncode == 0, text.stderr
    assert "fatf (FATF): 4 match now, 2 would match (+0 gained, -2 lost)" in text.stdout
    assert "Birds on a grey list" in text.stdout and "dawn" in text.stdout
    assert (NOW - timedelta(days=1)).strftime("%Y-%m-%d") in text.stdout
    bad = run_cli("rules", "test", "--config", str(archive["new"]), "--topic", "nope")
    assert bad.returncode == 2 and "unknown topic 'nope'" in bad.stderr


def test_apply_rescores_and_queues_no_alert_for_old_articles(archive: dict[str, Any]) -> None:
    ids, new = archive["ids"], archive["new"]
    config = config_from_dict(_raw(new), str(new))
    db = open_db(config)
    with db.read() as session:
        alerts_before = session.scalar(select(func.count(AlertRow.id)))
        score_before = session.get(ArticleRow, ids["grey_only"]).score
    assert score_before > 0 and alerts_before == 5
    status = run_cli("status", "--config", str(new))
    assert "mediawatch rules apply" in status.stdout
    assert cli_json("status", "--config", str(new), "--format", "json")["rules_changed"] is True

    # An article the running crawl stored after apply's cutoff: rescoring may alert it.
    fresh = store(
        db, config, "dawn", "dawn.example/fresh", "Corridor news", "CPEC roads open.", NOW,
        queue=False,
    )  # fmt: skip
    with db.write() as session:
        session.execute(MatchRow.__table__.delete().where(MatchRow.article_id == fresh.id))
        session.get(ArticleRow, fresh.id).score = 0.0

    applied = run_cli("rules", "apply", "--config", str(new))
    assert applied.returncode == 0, applied.stderr
    assert "7 articles read, 4 rescored, 1 alerts queued" in applied.stdout
    with db.read() as session:
        grey_only = session.get(ArticleRow, ids["grey_only"])
        assert grey_only.score == 0.0 and grey_only.matches == []
        cpec = session.get(ArticleRow, ids["grey_cpec"])
        assert {m.topic for m in cpec.matches} == {"cpec"} and cpec.score > 0
        alerted = session.scalars(select(AlertRow.article_id)).all()
    # The old CPEC article is rescored but not alerted; the fresh one is.
    assert sorted(alerted) == sorted([*_old_alerted(ids), fresh.id])
    assert ids["grey_cpec"] in _old_alerted(ids)  # alerted before, for FATF: not again
    db.dispose()
    found = cli_json("search", "--config", str(new), "--topic", "cpec", "--format", "json")
    assert {r["id"] for r in found} == {ids["grey_cpec"], fresh.id}
    assert cli_json("status", "--config", str(new), "--format", "json")["rules_changed"] is False
    again = run_cli("rules", "apply", "--config", str(new))
    assert "7 articles read, 0 rescored, 0 alerts queued" in again.stdout


def _old_alerted(ids: dict[str, int]) -> list[int]:
    return [ids[k] for k in ("both", "grey_only", "grey_cpec", "fatf_only", "ttp")]


def test_eval_measures_the_configured_rules_against_marks(archive: dict[str, Any]) -> None:
    ids, old, new = archive["ids"], archive["old"], archive["new"]
    empty = cli_json("rules", "eval", "--config", str(old), "--format", "json")
    assert empty[0] == {
        "topic": "fatf", "labelled": 0, "precision": None, "recall": None, "f1": None,
    }  # fmt: skip
    config = config_from_dict(_raw(old), str(old))
    db = open_db(config)
    with db.write() as session:
        set_label(session, ids["both"], "fatf", True, NOW)
        set_label(session, ids["fatf_only"], "fatf", True, NOW)
        set_label(session, ids["grey_only"], "fatf", False, NOW)
        set_label(session, ids["none"], "fatf", False, NOW)
    db.dispose()
    before = cli_json("rules", "eval", "--config", str(old), "--topic", "fatf", "--format", "json")
    # Old rules: both, fatf_only and grey_only match; grey_only is marked not relevant.
    assert before == [
        {"topic": "fatf", "labelled": 4, "precision": 0.6667, "recall": 1.0, "f1": 0.8}
    ]
    after = cli_json("rules", "eval", "--config", str(new), "--topic", "fatf", "--format", "json")
    assert after == [{"topic": "fatf", "labelled": 4, "precision": 1.0, "recall": 1.0, "f1": 1.0}]
    # `rules test` shows the move.
    text = run_cli("rules", "test", "--config", str(new), "--topic", "fatf")
    assert "against 4 readers' marks: precision 0.67 → 1.00, recall 1.00 → 1.00" in text.stdout


def test_crawl_warns_when_topics_changed(archive: dict[str, Any]) -> None:
    crawled = run_cli("crawl", "--config", str(archive["new"]))
    assert crawled.returncode == 0, crawled.stderr
    assert "mediawatch rules apply" in crawled.stderr
    quiet = run_cli("crawl", "--config", str(archive["old"]))
    assert "rules apply" not in quiet.stderr


def test_every_new_command_help_ends_with_an_example() -> None:
    for args in (["rules", "test"], ["rules", "apply"], ["rules", "eval"], ["topics", "suggest"]):
        result = run_cli(*args, "--help")
        assert result.returncode == 0
        assert result.stdout.rstrip().splitlines()[-2].strip() == "Example:", args
