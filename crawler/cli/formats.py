"""Terminal, CSV and table output for the CLI."""

import shutil
import sys
from typing import Any
from zoneinfo import ZoneInfo

import click

from crawler.archive.clock import UTC_ZONE, for_person, local_day
from crawler.archive.shapes import results_csv
from crawler.cli.options import emit_json
from crawler.config import Config
from spiders.durations import format_duration
from spiders.outlets import Outlet


def write_results(
    results: list[dict[str, Any]],
    fmt: str,
    bom: bool = False,
    zone: ZoneInfo = UTC_ZONE,
    total: int | None = None,
    offset: int = 0,
) -> None:
    """Search results as a table, JSON or CSV on stdout. The table ends with the count
    ("1–20 of 347 articles"); JSON and CSV are the results alone, as the contract has them."""
    if fmt == "json":
        emit_json(results)
    elif fmt == "csv":
        sys.stdout.write(results_csv(results, bom))
    else:
        _table(results, zone)
        if total is not None and (results or total):
            click.echo(count_line(offset, len(results), total, zone))


def count_line(offset: int, shown: int, total: int, zone: ZoneInfo) -> str:
    """ "1–20 of 347 articles (dates in Asia/Karachi); --offset 20 for the next 20"."""
    span = f"{offset + 1}–{offset + shown}" if shown else "none"
    line = f"{span} of {total} articles (dates in {zone.key})"
    if offset + shown < total:
        line += f"; --offset {offset + shown} for the next {min(shown, total - offset - shown)}"
    return line


def _table(results: list[dict[str, Any]], zone: ZoneInfo) -> None:
    if not results:
        click.echo("no articles found")
        return
    width = shutil.get_terminal_size((120, 20)).columns
    title_width = max(20, width - 6 - 18 - 11 - 7 - 14 - 6)
    click.echo(f"{'ID':>6}  {'OUTLET':16}  {'PUBLISHED':10}  {'SCORE':>5}  {'TOPICS':12}  TITLE")
    for r in results:
        published = local_day(r["published"], zone)
        title = (
            r["title"] if len(r["title"]) <= title_width else r["title"][: title_width - 1] + "…"
        )
        click.echo(
            f"{r['id']:>6}  {r['outlet'][:16]:16}  {published:10}  {r['score']:>5.1f}  "
            f"{fit_list(r['topics'], 12):12}  {title}"
        )


def fit_list(items: list[str], width: int) -> str:
    """Whole ids, comma-separated, and `+N` for those that do not fit: a list cut mid-id
    (`cismoa,fatf,`) reads as a different list."""
    shown = ""
    for n, item in enumerate(items):
        more = len(items) - n - 1
        candidate = f"{shown},{item}" if shown else item
        rest = f",+{more}" if more else ""
        if len(candidate) + len(rest) <= width:
            shown = candidate
            continue
        left = len(items) - n
        if shown:
            return f"{shown},+{left}"
        # Not even the first id fits: cut it visibly rather than drop it.
        tail = f"…+{left - 1}" if left > 1 else "…"
        return item[: max(width - len(tail), 1)] + tail
    return shown


def write_article(data: dict[str, Any], zone: ZoneInfo = UTC_ZONE) -> None:
    """One article for a terminal: header, matches, duplicates, text; times in `zone`."""
    click.echo(click.style(data["title"] or "(untitled)", bold=True))
    click.echo(f"{data['url']}")
    click.echo(
        f"outlet {data['outlet']} · author {data['author'] or '-'} · published "
        f"{for_person(data['published'], zone, 'unknown')} ({data['date_source']}) · "
        f"score {data['score']:.2f}"
    )
    for m in data["matches"]:
        click.echo(
            f"  {m['topic']:10} {m['term']!r} ×{m['count']}"
            + (" (in title)" if m["in_title"] else "")
        )
    for d in data["duplicates"]:
        click.echo(f"  same piece: #{d['id']} {d['outlet']} {d['url']}")
    versions = data.get("versions", [])
    if len(versions) > 1:
        click.echo(f"edited: {len(versions)} versions (the text below is the latest)")
        for v in versions:
            seen = for_person(v["seen_at"], zone)
            click.echo(f"  version {v['version']}  seen {seen}  {v['title']}")
    click.echo("")
    click.echo(data["text"])


def outlet_json(outlet: Outlet, config: Config) -> dict[str, Any]:
    """The contract's outlet object."""
    return {
        "id": outlet.id,
        "name": outlet.name,
        "country": outlet.country,
        "language": outlet.language,
        "feeds": outlet.feeds,
        "sitemaps": outlet.sitemaps,
        "listings": outlet.listings,
        "interval": format_duration(config.outlet_interval(outlet)),
    }


def write_outlets(outlets: list[Outlet], config: Config) -> None:
    """The outlets in use, one line each."""
    click.echo(f"{'ID':22} {'NAME':28} {'CC':8} {'LANG':4} {'EVERY':5} SOURCES")
    for o in outlets:
        sources = f"{len(o.feeds)} feeds, {len(o.sitemaps)} sitemaps, {len(o.listings)} listings"
        click.echo(
            f"{o.id:22} {o.name[:28]:28} {o.country:8} {o.language:4} "
            f"{format_duration(config.outlet_interval(o)):5} {sources}"
        )
    click.echo(f"{len(outlets)} outlets")
