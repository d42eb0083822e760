"""`mediawatch trends` and `mediawatch spikes`: stories per topic (or outlet, country,
language) over time, and the days a topic spiked.

commands.py registers these; they take its root --config through the click context
(crawler.cli.options), so this module needs nothing from commands.py (which imports it).
"""

import csv
import sys
from datetime import UTC, datetime

import click

from crawler.cli.options import config_option, emit_json, example, load

GROUPS = ["topic", "outlet", "country", "language"]


@click.command(
    epilog=example("mediawatch trends --topic ttp --topic fatf --by outlet --interval week")
)
@click.option("--topic", "topics", multiple=True, metavar="ID", help="A topic id (repeatable).")
@click.option("--by", type=click.Choice(GROUPS), default="topic", show_default=True)
@click.option("--since", default="90d", show_default=True, help="A date (2026-03-01) or age.")
@click.option("--interval", type=click.Choice(["day", "week"]), default="day", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@config_option
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
    gives none) in UTC, and weeks start on Monday. A --since date without a zone is read in
    the display zone ([web] timezone), as search reads it.
    """
    from crawler.archive.clock import display_zone
    from crawler.archive.reader import Archive
    from crawler.archive.trends import trend_query, trend_rows

    config = load(config_path)
    q = trend_query(
        datetime.now(UTC),
        [t.id for t in config.topics],
        list(topics),
        by,
        since,
        interval,
        zone=display_zone(config),
    )
    with Archive.open(config) as archive:
        rows = trend_rows(archive.db, q)
    if fmt == "json":
        emit_json(rows)
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


@click.command(epilog=example("mediawatch spikes --since 7d --format json"))
@click.option("--since", default="30d", show_default=True, help="A date (2026-03-01) or age.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@config_option
def spikes(since: str, fmt: str, config_path: str | None) -> None:
    """Days on which a topic had far more stories than in the 14 days before (spike alerts).

    Days are counted in the time zone of the subscriptions with `spikes = true` (UTC when
    none); the rule is in the README's "Spike alerts".
    """
    from crawler.archive.reader import Archive
    from crawler.archive.trends import spike_rows, spikes_since

    config = load(config_path)
    first_day = spikes_since(datetime.now(UTC), since)
    with Archive.open(config) as archive:
        rows = spike_rows(archive.db, first_day)
    if fmt == "json":
        public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        emit_json(public)
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
