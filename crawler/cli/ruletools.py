"""`rules test`, `rules apply`, `rules eval` and `topics suggest`: the terminal side of
crawler.archive.rescore and storage.similar (commands.py registers them)."""

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

from crawler.archive.filters import one_of
from crawler.archive.rescore import (
    Listed,
    Progress,
    Quality,
    TopicChange,
    apply_rules,
    evaluate,
    try_rules,
)
from crawler.archive.since import parse_since
from crawler.cli.options import emit_json
from crawler.config import Config
from crawler.config.errors import UsageError
from storage.db import open_database

LIST_LIMIT = 50  # gained/lost articles shown per topic in text (JSON lists them all)


@contextmanager
def progress_bar(label: str) -> Iterator[Progress | None]:
    """A progress bar on stderr when it is a terminal; no output otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=1, label=label, file=sys.stderr) as bar:
        seen = 0

        def update(done: int, total: int) -> None:
            nonlocal seen
            bar.length = max(total, 1)
            bar.update(done - seen)
            seen = done

        yield update


def _topics(config: Config, topic: str | None) -> list[Any]:
    chosen = one_of(topic, [t.id for t in config.topics], "--topic", "topic")
    return [t for t in config.topics if chosen is None or t.id == chosen]


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _listed(a: Listed) -> str:
    day = a.published.strftime("%Y-%m-%d") if a.published else "no date   "
    title = " ".join(a.title.split())[:70] or "(no title)"
    return f"    #{a.id:<7} {day}  {a.outlet[:20]:20} {a.score:6.2f}  {title}"


def _change_text(c: TopicChange) -> list[str]:
    lines = [
        f"{c.topic} ({c.name}): {c.matching_now} match now, {c.would_match} would match "
        f"(+{len(c.gained_ids)} gained, -{len(c.lost_ids)} lost)"
    ]
    for label, articles, ids in (("gained", c.gained, c.gained_ids), ("lost", c.lost, c.lost_ids)):
        if not ids:
            continue
        lines.append(f"  {label}:")
        lines.extend(_listed(a) for a in articles)
        if len(ids) > len(articles):
            lines.append(f"    … and {len(ids) - len(articles)} more (--format json lists all)")
    if c.quality_now and c.quality_after and c.quality_now.labelled:
        now, after = c.quality_now, c.quality_after
        lines.append(
            f"  against {now.labelled} readers' marks: precision {_ratio(now.precision)} → "
            f"{_ratio(after.precision)}, recall {_ratio(now.recall)} → {_ratio(after.recall)}, "
            f"F1 {_ratio(now.f1)} → {_ratio(after.f1)}"
        )
    return lines


def rules_test(config: Config, topic: str | None, since: str | None, fmt: str) -> None:
    """Print what the configuration's topics would change in the stored archive."""
    topics = _topics(config, topic)
    start = parse_since(since, datetime.now(UTC))
    with (
        open_database(config.database.url, create=False) as db,
        progress_bar("testing rules") as progress,
    ):
        changes = try_rules(
            db, topics, start, progress, describe=0 if fmt == "json" else LIST_LIMIT
        )
    if fmt == "json":
        emit_json([c.as_json() for c in changes])
        return
    scope = f"articles published since {start:%Y-%m-%d %H:%M} UTC" if start else "the archive"
    click.echo(f"The configured topics over {scope}, against the matches as stored:")
    for c in changes:
        click.echo("\n".join(_change_text(c)))
    if any(c.gained_ids or c.lost_ids for c in changes):
        click.echo("`mediawatch rules apply` makes these changes (no alerts for old articles).")


def rules_apply(config: Config) -> None:
    """Rescore the whole archive with the configured topics."""
    with (
        open_database(config.database.url, create=False) as db,
        progress_bar("rescoring") as progress,
    ):
        report = apply_rules(db, config.topics, config.subscriptions, datetime.now(UTC), progress)
    click.echo(
        f"{report.articles} articles read, {report.rescored} rescored, "
        f"{report.alerts_queued} alerts queued (only articles from the last crawl on alert)"
    )


def rules_eval(config: Config, topic: str | None, fmt: str) -> None:
    """Print each topic's precision, recall and F1 against readers' relevance marks."""
    topics = _topics(config, topic)
    with open_database(config.database.url, create=False) as db:
        results: Sequence[tuple[str, Quality]] = evaluate(db, topics)
    if fmt == "json":
        emit_json([q.as_json(t) for t, q in results])
        return
    click.echo(f"{'TOPIC':20} {'LABELLED':>8} {'PRECISION':>9} {'RECALL':>7} {'F1':>6}")
    for t, q in results:
        click.echo(
            f"{t:20} {q.labelled:>8} {_ratio(q.precision):>9} {_ratio(q.recall):>7} "
            f"{_ratio(q.f1):>6}"
        )
    if not any(q.labelled for _, q in results):
        click.echo(
            "no relevance marks yet: mark articles relevant or not on their pages in "
            "`mediawatch web`"
        )


def topics_suggest(config: Config, article_ids: Sequence[int], topic_id: str | None) -> None:
    """Print a [[topics]] block proposed from example articles."""
    from crawler.archive.suggest import suggest_topic

    if not article_ids:
        raise UsageError("name one or more example article ids (from `mediawatch search`)")
    with open_database(config.database.url, create=False) as db:
        click.echo(suggest_topic(db, config, list(article_ids), topic_id))
