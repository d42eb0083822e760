"""The `mediawatch` command line. Each command is a thin layer over the other modules."""

import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from alerts.errors import DeliveryError
from crawler.cli import interrupted
from crawler.cli.options import config_option, config_path_given, emit_json, example, load
from crawler.cli.trends import spikes, trends
from crawler.config import CONFIG_ENV, DEFAULT_FILE, Config, starter_config
from crawler.config.errors import MediawatchError, UsageError
from spiders.outlets import Outlet
from storage.db import DatabaseUnavailable
from storage.migrate import MigrationRefused
from storage.statuses import AlertStatus

# Options of `mediawatch` itself, as they are written before a command (`mediawatch -v crawl`).
GLOBAL_OPTIONS = {
    "-v": "-v",
    "--verbose": "--verbose",
    "--log-format": "--log-format json",
    "--version": "--version",
}
# 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe.
EXIT_BROKEN_PIPE = 141


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so Python's final flush into a closed pipe prints nothing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class CliError(click.ClickException):
    """One line on stderr and the contract's exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return self.code

    def show(self, file: Any = None) -> None:
        click.echo(f"mediawatch: error: {self.format_message()}", err=True)


class MediawatchGroup(click.Group):
    """Turns our errors into one line on stderr and the contract's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (MediawatchError, DeliveryError) as exc:
            raise CliError(str(exc), exc.exit_code) from None
        except MigrationRefused as exc:
            raise CliError(f"the database cannot be upgraded: {exc}", 1) from None
        except DatabaseUnavailable as exc:
            raise CliError(str(exc), 1) from None
        except OperationalError as exc:
            # The database refused a statement mid-command: locked past the busy timeout by
            # another command, or the server went away. Its state is the last commit's.
            first = str(exc.orig or exc).splitlines()[0] if str(exc.orig or exc) else ""
            fix = (
                "another command holds the database (a long write, an upgrade); run this "
                "again once it is done"
                if "locked" in first
                else "check that the database is reachable and writable, then run this again"
            )
            raise CliError(f"the database failed: {first} ({fix})", 1) from None
        except BrokenPipeError:
            # The reader went away (`mediawatch search | head -2`): stop quietly, as Unix tools do.
            _quiet_stdout()
            raise SystemExit(EXIT_BROKEN_PIPE) from None
        except click.NoSuchOption as exc:
            # `mediawatch crawl -v`: the global options go before the command, as in git.
            hint = "is a global option"
            if exc.option_name in GLOBAL_OPTIONS and exc.ctx and hint not in exc.message:
                where = exc.ctx.command_path.split(" ", 1)
                moved = f"{where[0]} {GLOBAL_OPTIONS[exc.option_name]} {' '.join(where[1:])}"
                exc.message = (  # type: ignore[misc]
                    f"{exc.message.rstrip('.')}: {exc.option_name} {hint}, so it goes before "
                    f"the command: `{moved.strip()}`."
                )
            raise
        except KeyboardInterrupt:
            # Ctrl-C in any command (a crawl stops cleanly on its own): one line and exit 130,
            # not click's "Aborted!" and exit 1.
            interrupted()
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:
            if ctx.find_root().params.get("verbose"):
                raise
            raise CliError(
                f"unexpected {type(exc).__name__}: {exc} (a bug: run again with -v for the "
                "traceback, and please report it)",
                1,
            ) from None


@click.group(cls=MediawatchGroup, epilog=example("mediawatch --config mediawatch.toml crawl dawn"))
@config_option
@click.option("-v", "--verbose", is_flag=True, help="Log debugging detail, Scrapy's included.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    help="Log lines as text or as JSON objects.",
)
@click.version_option(package_name="mediawatch")
def cli(config_path: str | None, verbose: bool, log_format: str) -> None:
    """Monitor South Asian opinion writing: crawl outlets, score articles, alert by email."""
    from crawler.cli.logs import setup_logging

    setup_logging(verbose, log_format)


@cli.command(epilog=example("mediawatch init /etc/mediawatch/mediawatch.toml"))
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@config_option
def init(path: str | None, force: bool, config_path: str | None) -> None:
    """Write a starter configuration file: every key with its default, optional ones commented.

    The file is PATH, else the one --config names (before or after `init`), else
    $MEDIAWATCH_CONFIG, else ./mediawatch.toml: where the other commands will look for it.
    """
    config_path = config_path_given(config_path)
    if path and config_path and Path(path) != Path(config_path):
        raise UsageError(f"init: PATH {path} and --config {config_path} differ; give one of them")
    target = Path(path or config_path or os.environ.get(CONFIG_ENV) or DEFAULT_FILE)
    if target.exists() and not force:
        raise UsageError(f"{target} exists; use --force to overwrite it")
    if not target.parent.is_dir():
        raise CliError(
            f"cannot write {target}: directory {target.parent} does not exist; create it first",
            1,
        )
    # Owner-only from the first byte: the file will hold the database password and web token.
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror}", 1) from None
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(starter_config())
    click.echo(f"wrote {target}; edit it, then run: mediawatch --config {target} crawl")


def _pick_outlets(config: Config, ids: tuple[str, ...]) -> list[Outlet]:
    outlets = config.active_outlets()
    if not ids:
        return outlets
    from spiders.outlets import bundled_catalogue

    known = {o.id: o for o in [*bundled_catalogue(), *outlets]}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UsageError(f"unknown outlet ids {unknown}; see `mediawatch outlets list`")
    return [known[i] for i in ids]


@cli.command(epilog=example("mediawatch --log-format json run"))
@config_option
def run(config_path: str | None) -> None:
    """Run the daemon: crawl every outlet on its interval, send alerts and digests.

    Stops cleanly on SIGTERM or SIGINT (a second signal stops at once).
    """
    from crawler.service.daemon import run_daemon

    sys.exit(run_daemon(load(config_path)))


@cli.command(epilog=example("mediawatch --config /etc/mediawatch/mediawatch.toml worker"))
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@config_option
def worker(burst: bool, config_path: str | None) -> None:
    """Take crawl jobs from the Redis queue ([queue] url) that `mediawatch run` fills."""
    from crawler.service.jobs import run_worker

    run_worker(load(config_path), burst)


@cli.command(
    epilog=example(
        "mediawatch crawl dawn express-tribune --format json\n"
        "  mediawatch crawl --since 2025-01-01 dawn    # backfill a year and more, no alerts"
    )
)
@click.argument("outlet_ids", nargs=-1, metavar="[OUTLET_ID...]")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--since",
    metavar="DATE",
    help="Backfill: reach back to DATE (2025-01-01, or an age such as 365d) through sitemap "
    "indexes and listing pages, ignoring max_age_days; stop with Ctrl-C, run again to continue.",
)
@click.option("--alert", is_flag=True, help="With --since: queue alerts for backfilled articles.")
@config_option
def crawl(
    outlet_ids: tuple[str, ...], fmt: str, since: str | None, alert: bool, config_path: str | None
) -> None:
    """Crawl outlets once now (all in use, or the ones named), then send pending alerts.

    With --since, backfill instead: older articles are stored (digests and trends see them),
    and no alert is queued for them unless --alert is given.
    """
    from crawler.service.stopping import StopOnSignal

    # Held before the crawl code loads (a second or more): a Ctrl-C then stops the crawl too.
    with StopOnSignal().held() as stop:
        from crawler.archive.since import parse_since
        from crawler.runtime.context import BackfillRun
        from crawler.service.once import crawl_once

        config = load(config_path)
        backfill = None
        if since is not None:
            start = parse_since(since, datetime.now(UTC))
            if start is None or start > datetime.now(UTC):
                raise UsageError(f"--since {since!r}: give a date in the past, e.g. 2025-01-01")
            backfill = BackfillRun(since=start, alert=alert)
        elif alert:
            raise UsageError("--alert goes with --since (a plain crawl alerts anyway)")
        outlets = _pick_outlets(config, outlet_ids)
        summary = crawl_once(config, outlets, progress=True, backfill=backfill, stop=stop)
    if summary.stopped_by:
        click.echo(
            f"mediawatch: stopped by {summary.stopped_by}; what finished is recorded"
            + ("; run the same command again to continue" if backfill else ""),
            err=True,
        )
    if fmt == "json":
        emit_json(summary.as_json())
    if summary.stopped_by:
        sys.exit(128 + signal.Signals[summary.stopped_by].value)
    if fmt == "json":
        return
    for r in summary.outlets:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r.error_kinds.items()))
        click.echo(
            f"{r.id:24} {r.pages_fetched:5} pages  {r.new_articles:4} new  {r.errors:3} errors"
            + (f" ({kinds})" if kinds else "")
            + (f"  {r.too_old} too old" if r.too_old else "")
            + (f"  {r.canonical_ignored} canonical links ignored" if r.canonical_ignored else "")
        )
    click.echo(f"{summary.new_articles} new articles, {summary.alerts_queued} alerts queued")
    if (too_old := sum(r.too_old for r in summary.outlets)) and backfill is None:
        days = config.crawl.max_age_days
        click.echo(
            f"{too_old} articles fetched were older than max_age_days ({days} days) and not "
            "stored: raise [crawl] max_age_days (the next crawl fetches them again), or "
            "reach back once with `mediawatch crawl --since DATE`"
        )
    if backfill is not None:
        failed = any(r.errors for r in summary.outlets)
        if any(r.left_for_next_run for r in summary.outlets) or failed:
            click.echo(
                "backfill: run the same command again to continue past this run's limits "
                "([crawl] max_child_sitemaps, max_articles_per_run)"
                + (" and to try again what failed" if failed else "")
                + "; finished parts are not read again"
            )
        else:
            click.echo(
                f"backfill: complete back to {backfill.since.date().isoformat()}: every "
                "sitemap and listing page in reach was read, nothing is left for another run"
            )


class QueryCommand(click.Command):
    """Takes a query that starts with `-` (`search -cricket`) as the query, not an option."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {
            name
            for p in self.params
            if isinstance(p, click.Option) and not p.is_flag
            for name in p.opts
        }
        known = {name for p in self.params for name in getattr(p, "opts", [])} | {"--help"}
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                break
            if arg in takes_value:
                i += 2  # its value may start with `-` (`--min-score -1`)
                continue
            if arg.startswith("-") and not arg.startswith("--") and arg not in known | {"-"}:
                # No short option is defined here, so `-word` can only be an exclusion.
                args = [*args[:i], *args[i + 1 :], "--", arg]
                break
            i += 1
        return super().parse_args(ctx, args)


@cli.command(
    cls=QueryCommand,
    epilog=example('mediawatch search "grey list" --topic fatf --since 30d --format json'),
)
@click.argument("query", required=False)
@click.option("--topic", help="Only articles matching this topic id.")
@click.option("--outlet", help="Only articles from this outlet id.")
@click.option(
    "--since",
    help="Published since a date (2026-03-01, read in [web] timezone) or age (7d).",
)
@click.option("--until", help="Published before a date or age.")
@click.option("--min-score", type=float, help="Only articles scoring at least this.")
@click.option("--language", help="Only articles in this language (ISO 639-1, e.g. ur).")
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0, 1_000_000_000), default=0)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@click.option(
    "--bom",
    is_flag=True,
    help="Start the CSV with a UTF-8 BOM (for Excel); only with --format csv.",
)
@config_option
def search(
    query: str | None,
    topic: str | None,
    outlet: str | None,
    since: str | None,
    until: str | None,
    min_score: float | None,
    language: str | None,
    limit: int,
    offset: int,
    fmt: str,
    bom: bool,
    config_path: str | None,
) -> None:
    """Search stored articles, best first; with no QUERY, list them newest first.

    A query may start with `-` (`mediawatch search -cricket`), or follow `--`.
    """
    from crawler.archive.clock import display_zone
    from crawler.archive.filters import (
        article_filter,
        known_filters,
        one_of,
        operator_hint,
        stored_values,
    )
    from crawler.archive.reader import Archive

    if bom and fmt != "csv":
        raise UsageError("--bom: only CSV has a byte order mark; add --format csv or drop --bom")
    config = load(config_path)
    now, zone = datetime.now(UTC), display_zone(config)
    # The options that need no database are checked before one is opened (a usage error is
    # exit 2 whether or not an archive exists yet).
    article_filter(
        now, query=query, since=since, until=until, min_score=min_score, limit=limit, zone=zone
    )
    topics = [t.id for t in config.topics]
    one_of(topic, topics, "--topic", "topic")
    with Archive.open(config) as archive:
        # Stored outlets and languages are valid filters too; read (two DISTINCT scans) only
        # when one is asked for.
        topic, outlet, language = known_filters(
            topic,
            outlet,
            language,
            topics=topics,
            outlets=config.active_outlets(),
            stored=lambda: stored_values(archive.db),
            prefix="--",
        )
        f = article_filter(
            now,
            query=query,
            topic=topic,
            outlet=outlet,
            since=since,
            until=until,
            min_score=min_score,
            language=language,
            limit=limit,
            offset=offset,
            zone=zone,
        )
        results = archive.search(f)
        # A short page is the last one: its total needs no count.
        short = len(results) < limit and (results or not offset)
        total = offset + len(results) if short else archive.count(f)
    from crawler.cli.formats import write_results

    write_results(results, fmt, bom=bom, zone=zone, total=total, offset=offset)
    hint = operator_hint(query) if not results else None
    if hint:
        click.echo(hint, err=True)


@cli.command(epilog=example("mediawatch show 42 --format json"))
@click.argument("article_id", type=click.IntRange(1, 2**63 - 1), metavar="ID")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@config_option
def show(article_id: int, fmt: str, config_path: str | None) -> None:
    """Show one stored article with its text and matched terms."""
    from crawler.archive.clock import display_zone
    from crawler.archive.reader import Archive

    config = load(config_path)
    with Archive.open(config) as archive:
        data = archive.show(article_id)
    if fmt == "json":
        emit_json(data)
        return
    from crawler.cli.formats import write_article

    write_article(data, display_zone(config))


@cli.group(cls=MediawatchGroup, epilog=example("mediawatch rules explain article.html"))
@config_option
def rules(config_path: str | None) -> None:
    """Keyword rules and scoring."""


@rules.command(epilog=example("mediawatch rules explain https://www.dawn.com/news/1234567"))
@click.argument("source", metavar="(URL|FILE|-)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@config_option
def explain(source: str, fmt: str, config_path: str | None) -> None:
    """Extract one page and show its score, term by term, and each topic query clause by
    clause with the matched words in context."""
    from crawler.cli.explain import explain_source

    report = explain_source(load(config_path), source)
    if fmt == "json":
        emit_json(report.as_json())
    else:
        click.echo(report.as_text())


@rules.command("test", epilog=example("mediawatch rules test --config new.toml --since 90d"))
@click.option("--topic", help="Only this topic id.")
@click.option("--since", help="Only articles published since a date (2026-03-01) or age (90d).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@config_option
def rules_test(topic: str | None, since: str | None, fmt: str, config_path: str | None) -> None:
    """Run the configuration's topics over the stored archive and show, per topic, how many
    articles match now (as stored) and would match, and the articles gained and lost.

    Nothing is changed: try an edited copy of your configuration with --config first, then
    `mediawatch rules apply`. Where readers marked articles, shows how precision and recall
    would move.
    """
    from crawler.cli.ruletools import rules_test as run_test

    run_test(load(config_path), topic, since, fmt)


@rules.command("apply", epilog=example("mediawatch rules apply"))
@config_option
def rules_apply(config_path: str | None) -> None:
    """Rescore the whole archive with the configured topics (matches and scores).

    Topics apply to articles when they are stored; run this after changing them. No alert is
    sent for articles first seen before the last crawl.
    """
    from crawler.cli.ruletools import rules_apply as run_apply

    run_apply(load(config_path))


@rules.command("eval", epilog=example("mediawatch rules eval --topic ttp --format json"))
@click.option("--topic", help="Only this topic id.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@config_option
def rules_eval(topic: str | None, fmt: str, config_path: str | None) -> None:
    """Precision, recall and F1 of each configured topic against readers' relevance marks
    (made on article pages in `mediawatch web`); recall is over the articles marked relevant."""
    from crawler.cli.ruletools import rules_eval as run_eval

    run_eval(load(config_path), topic, fmt)


@cli.group(cls=MediawatchGroup, epilog=example("mediawatch topics suggest 12 40"))
@config_option
def topics(config_path: str | None) -> None:
    """Topics: proposing new ones from example articles."""


@topics.command("suggest", epilog=example("mediawatch topics suggest 12 40 >> mediawatch.toml"))
@click.argument("article_ids", nargs=-1, type=click.IntRange(1, 2**63 - 1), metavar="ID...")
@click.option("--id", "topic_id", help="The new topic's id (default: from its best term).")
@config_option
def topics_suggest(
    article_ids: tuple[int, ...], topic_id: str | None, config_path: str | None
) -> None:
    """Propose terms and a query for a new topic from example articles (ids from `mediawatch
    search`): their most distinctive words and phrases against the archive, printed as a
    [[topics]] block ready to paste into mediawatch.toml."""
    from crawler.cli.ruletools import topics_suggest as run_suggest

    run_suggest(load(config_path), article_ids, topic_id)


@cli.command(epilog=example("mediawatch status --format json"))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@config_option
def status(fmt: str, config_path: str | None) -> None:
    """Per outlet: last crawl, result, errors and counts; pending alerts."""
    from crawler.archive.clock import display_zone
    from crawler.service.status import status_report
    from storage.db import open_database

    config = load(config_path)
    with open_database(config.database.url, create=False) as db:
        report = status_report(config, datetime.now(UTC), db)
    if fmt == "json":
        emit_json(report.as_json())
    else:
        click.echo(report.as_text(display_zone(config)))


@cli.group(cls=MediawatchGroup, epilog=example("mediawatch outlets list --country PK"))
@config_option
def outlets(config_path: str | None) -> None:
    """The outlets in use: the bundled catalogue and your own."""


@outlets.command("list", epilog=example("mediawatch outlets list --country IN --format json"))
@click.option("--country", help="Only outlets of this country code (PK, IN, BD...).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@config_option
def outlets_list(country: str | None, fmt: str, config_path: str | None) -> None:
    """List the outlets in use."""
    from crawler.archive.filters import one_of
    from crawler.cli.formats import outlet_json, write_outlets

    config = load(config_path)
    in_use = config.active_outlets()
    code = one_of(
        country.upper() if country else None, [o.country for o in in_use], "--country", "country"
    )
    chosen = [o for o in in_use if not code or o.country == code]
    if fmt == "json":
        emit_json([outlet_json(o, config) for o in chosen])
    else:
        write_outlets(chosen, config)


@outlets.command("check", epilog=example("mediawatch outlets check dawn express-tribune"))
@click.argument("outlet_ids", nargs=-1, metavar="[ID...]")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@config_option
def outlets_check(outlet_ids: tuple[str, ...], fmt: str, config_path: str | None) -> None:
    """Fetch each source once and diagnose it: ok, blocked, challenge, moved, empty, stale.

    Exit status 1 when any source has a problem (anything but ok), 0 when all are ok.
    """
    from collections import Counter

    from crawler.cli.sourcecheck import check_outlets

    config = load(config_path)

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            end = "\n" if done == total else ""
            click.echo(f"\r\033[Kchecked {done}/{total} sources", err=True, nl=False)
            click.echo(end, err=True, nl=False)

    chosen = _pick_outlets(config, outlet_ids)
    reports = check_outlets(config, chosen, datetime.now(UTC), progress)
    bad = [r for r in reports if r.diagnosis != "ok"]
    if fmt == "json":
        emit_json([r.as_json() for r in reports])
    else:
        for r in reports:
            status = r.status if r.status is not None else "-"
            click.echo(f"{r.outlet:22} {r.kind:8} {r.diagnosis:11} {status!s:>4}  {r.url}")
            click.echo(f"{'':22} {'':8} {r.detail}; newest {r.newest or '-'}; robots {r.robots}")
        kinds = Counter(r.error_kind or r.diagnosis for r in bad).most_common()
        by_kind = f" ({', '.join(f'{k} {n}' for k, n in kinds)})" if kinds else ""
        click.echo(f"{len(reports)} sources checked, {len(bad)} with problems{by_kind}")
    # Like a linter: scripts and monitoring can act on the status without parsing the text.
    sys.exit(1 if bad else 0)


@cli.group(cls=MediawatchGroup, epilog=example("mediawatch alerts list --status failed"))
@config_option
def alerts(config_path: str | None) -> None:
    """The alert outbox: what was queued, sent or failed, and delivering it now."""


@alerts.command("list", epilog=example("mediawatch alerts list --status pending --format json"))
@click.option("--status", type=click.Choice([s.value for s in AlertStatus]))
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@config_option
def alerts_list(status: str | None, limit: int, fmt: str, config_path: str | None) -> None:
    """List alerts, newest first, with their delivery state and last error."""
    from crawler.service.mail import list_alert_rows

    config = load(config_path)
    rows = list_alert_rows(config, status, limit)
    if fmt == "json":
        emit_json(rows)
        return
    if not rows:
        click.echo("no alerts")
        return
    from crawler.archive.clock import display_zone
    from crawler.service.mail import alert_when

    now, zone = datetime.now(UTC), display_zone(config)
    when = f"WHEN ({zone.key})"
    click.echo(
        f"{'ID':>6}  {'STATUS':8}  {'SUBSCRIPTION':28}  {'CHANNEL':23}  {'TRIES':>5}  "
        f"{when:25}  TITLE"
    )
    for r in rows:
        about = r["title"] if r["kind"] == "article" else f"({r['kind']}) {r['title']}".strip()
        click.echo(
            f"{r['id']:>6}  {r['status']:8}  {r['subscription'][:28]:28}  {r['channel']:23}  "
            f"{r['attempts']:>5}  {alert_when(r, now, zone):25}  {about[:60]}"
        )
        if r["last_error"]:
            click.echo(f"{'':8}last error: {r['last_error']}")


@alerts.command("flush", epilog=example("mediawatch alerts flush"))
@config_option
def alerts_flush(config_path: str | None) -> None:
    """Deliver every pending alert now, including those waiting for a retry."""
    from crawler.service.mail import flush_alerts

    report = flush_alerts(load(config_path))
    click.echo(f"{report.sent} sent, {report.retrying} still pending, {report.failed} failed")
    if report.retrying:
        raise CliError("some alerts could not be delivered; they stay queued", 1)


@alerts.command("retry", epilog=example("mediawatch alerts retry --failed"))
@click.argument("alert_ids", nargs=-1, type=click.IntRange(1, 2**63 - 1), metavar="[ID...]")
@click.option("--failed", "all_failed", is_flag=True, help="Every failed alert.")
@config_option
def alerts_retry(alert_ids: tuple[int, ...], all_failed: bool, config_path: str | None) -> None:
    """Put failed alerts back in the queue, due now, once the cause (an address, the server)
    is fixed; the next delivery (`run`, `crawl`, `alerts flush`) sends them."""
    from crawler.service.mail import retry_alerts

    if bool(alert_ids) == all_failed:
        raise UsageError("name the alerts to retry (IDs from `mediawatch alerts list`) or --failed")
    retried, skipped = retry_alerts(load(config_path), list(alert_ids) or None)
    for alert_id, status in skipped:
        if status is None:
            click.echo(f"mediawatch: no alert #{alert_id}", err=True)
        else:
            click.echo(f"#{alert_id} is {status}, not failed: left as it is", err=True)
    click.echo(
        f"{len(retried)} alerts queued again"
        + (f" ({', '.join(f'#{i}' for i in retried)})" if retried else "")
        + ("; `mediawatch alerts flush` sends them now" if retried else "")
    )
    if any(status is None for _, status in skipped):
        raise CliError("some alert IDs do not exist; see `mediawatch alerts list`", 1)


@alerts.command("test", epilog=example("mediawatch alerts test desk@example.org"))
@click.argument("target", required=False, metavar="[ADDRESS|APPRISE_URL]")
@config_option
def alerts_test(target: str | None, config_path: str | None) -> None:
    """Send one test message (default: to the first subscription's channels) and print each
    step (connect, STARTTLS, login, sender, recipient, or Apprise's answer) with the fix for
    the step that failed."""
    from crawler.cli.alerttest import run_test

    if not run_test(load(config_path), target, click.echo):
        raise CliError("the test message was not delivered; the failed step says what to fix", 1)


@cli.command(epilog=example("mediawatch digest --since 1d --preview"))
@click.option("--since", help="Digest of articles first seen since a date or age (e.g. 1d).")
@click.option("--send", "mode", flag_value="send", help="Send the digests and record them.")
@click.option(
    "--preview",
    "mode",
    flag_value="preview",
    default=True,
    help="Print the digests without sending (the default).",
)
@config_option
def digest(since: str | None, mode: str, config_path: str | None) -> None:
    """Build each subscription's digest now; print it, or send it (once per period).

    Without --since, each digest covers its subscription's last complete period, as the
    daemon sends it (daily: from the send time a day before the latest one to it), so
    articles stored since the latest send time wait for the next digest: --since 1d shows
    them.
    """
    from crawler.service.mail import digests_now

    for line in digests_now(load(config_path), since, send=mode == "send"):
        click.echo(line)
    if since is None and mode != "send":
        click.echo(
            "digest: each covers its last complete period; articles stored since then go in "
            "the next one (`mediawatch digest --since 1d --preview` shows them now)",
            err=True,
        )


@cli.command(epilog=example("mediawatch web --port 8000"))
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 8000).")
@config_option
def web(host: str | None, port: int | None, config_path: str | None) -> None:
    """Serve the search web UI and JSON API (binds 127.0.0.1 unless told otherwise).

    A port in use or a database that cannot be opened is one line and exit 1, before anything
    is served. Ctrl-C or SIGTERM stops it cleanly (exit 0).
    """
    from crawler.web.app import bound, token_warning

    config = load(config_path)
    host, port = host or config.web.host, port or config.web.port
    # Said once it is true: the database opened and the port bound.
    with bound(config, host, port) as serve:
        click.echo(f"mediawatch web UI on http://{host}:{port}/ (Ctrl-C stops it)", err=True)
        if warning := token_warning(config, host, port):
            click.echo(warning, err=True)
        serve()


@cli.command(epilog=example("mediawatch demo"))
@click.option(
    "--dir",
    "--keep",
    "directory",
    type=click.Path(file_okay=False),
    help="The demo's own folder: its config, archive and emails (default ./mediawatch-demo).",
)
@config_option
def demo(directory: str | None, config_path: str | None) -> None:
    """Offline, end to end: serve demo outlets on 127.0.0.1, crawl, score, store, alert.

    It keeps to its own folder (./mediawatch-demo/: mediawatch.toml, demo.db, outbox/), whatever
    configuration exists, so your archive and subscribers are never touched; a folder holding
    anything but the demo's is refused. Run again, it stores nothing new.
    """
    from crawler.demo.command import run_demo

    run_demo(directory)


cli.add_command(trends)
cli.add_command(spikes)


def main() -> None:
    """Console-script entry point."""
    try:
        try:
            cli.main(prog_name="mediawatch")
        finally:
            # Output a closed pipe did not take fails here, at the last flush, not in a command.
            sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
