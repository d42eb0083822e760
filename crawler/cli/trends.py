"""`mediawatch trends` and `mediawatch spikes`: stories per topic (or outlet, country,
language) over time, and the days a topic spiked.

commands.py registers these; they take its root --config through the click context, so this
module needs nothing from commands.py (which imports it).
"""

import csv
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from crawler.config import Config, load_config

GROUPS = ["topic", "outlet", "country", "language"]
F = TypeVar("F", bound=Callable[..., Any])


def _example(text: str) -> str:
    return "\b\nExample:\n  " + text


def _config(config_path: str | None) -> Config:
    """The configuration named by the innermost --config (this command, or the root's)."""
    ctx: click.Context | None = click.get_current_context()
    while config_path is None and ctx is not None:
        ctx = ctx.parent
        if ctx is not None:
            config_path = ctx.params.get("config_path")
    return load_config(config_path)


def _config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_path",
        metavar="PATH",
        default=None,
        help="Configuration file (default: $MEDIAWATCH_CONFIG, else ./mediawatch.toml).",
    )(f)


@click.command(
    epilog=_example("mediawatch trends --topic ttp --topic fatf --by outlet --interval week")
)
@click.option("--topic", "topics", multiple=True, metavar="ID", help="A topic id (repeatable).")
@click.option("--by", type=click.Choice(GROUPS), default="topic", show_default=True)
@click.option("--since", default="90d", show_default=True, help="A date (2026-03-01) or age.")
@click.option("--interval", type=click.Choice(["day", "week"]), default="day", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@_config_option
def trends(
    topics: tuple[str, ...],
    by: str,
    since: str,
    interval: str,
    fmt: str,
    config_path: str | None,
) -> None:
    """Matching stories per day or week, by topic, outlet, country or language.

    A story (an article and its near-duplicates) counts once per topic, and once per outlet,
    country or language that ran it; dates are publication dates (first seen where a page
    gives none) in UTC, and weeks start on Monday.
    """
    from crawler.archive.reader import Archive
    from crawler.archive.trends import trend_query, trend_rows

    config = _config(config_path)
    q = trend_query(
        datetime.now(UTC), [t.id for t in config.topics], list(topics), by, since, interval
    )
    with Archive.open(config) as archive:
        rows = trend_rows(archive.db, q)
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(["period", "key", "stories"])
        out.writerows([r["period"], r["key"], r["stories"]] for r in rows)
    else:
        _table(rows, by)


def _table(rows: list[dict[str, object]], by: str) -> None:
    """Periods down, keys across: the numbers a chart would draw."""
    keys = list(dict.fromkeys(str(r["key"]) for r in rows))
    if not keys:
        click.echo(f"no matching stories in this window (by {by})")
        return
    width = max(6, *(len(k or "(none)") for k in keys))
    click.echo(f"{'PERIOD':10}  " + "  ".join(f"{k or '(none)':>{width}}" for k in keys))
    cells: dict[str, dict[str, object]] = {}
    for r in rows:
        cells.setdefault(str(r["period"]), {})[str(r["key"])] = r["stories"]
    for period, counts in cells.items():
        click.echo(f"{period:10}  " + "  ".join(f"{counts.get(k, 0)!s:>{width}}" for k in keys))


@click.command(epilog=_example("mediawatch spikes --since 7d --format json"))
@click.option("--since", default="30d", show_default=True, help="A date (2026-03-01) or age.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@_config_option
def spikes(since: str, fmt: str, config_path: str | None) -> None:
    """Days on which a topic had far more stories than in the 14 days before (spike alerts).

    Days are counted in the time zone of the subscriptions with `spikes = true` (UTC when
    none); the rule is in the README's "Spike alerts".
    """
    from crawler.archive.reader import Archive
    from crawler.archive.trends import spike_rows, spikes_since

    config = _config(config_path)
    first_day = spikes_since(datetime.now(UTC), since)
    with Archive.open(config) as archive:
        rows = spike_rows(archive.db, first_day)
    if fmt == "json":
        public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        click.echo(json.dumps(public, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no spikes in this window")
        return
    names = {t.id: t.name for t in config.topics}
    click.echo(f"{'DAY':10}  {'ZONE':16}  {'STORIES':>7}  {'BASELINE':>8}  TOPIC")
    for r in rows:
        name = names.get(str(r["topic"]), str(r["topic"]))
        click.echo(
            f"{r['day']:10}  {r['_zone']!s:16}  {r['stories']:>7}  {r['baseline']:>8.2f}  "
            f"{r['topic']} ({name})"
        )
