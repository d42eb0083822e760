"""Crawl runs: the record `mediawatch status` and source health are built from."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import ArticleRow, CrawlRunRow
from storage.statuses import CrawlStatus


def start_run(session: Session, outlet_id: str, now: datetime) -> int:
    """Record that a crawl of this outlet began; its id."""
    row = CrawlRunRow(
        outlet_id=outlet_id,
        started_at=now,
        status=CrawlStatus.RUNNING,
        error_kinds={},
        error_samples={},
    )
    session.add(row)
    session.flush()
    return row.id


def finish_run(
    session: Session,
    run_id: int,
    *,
    finished_at: datetime,
    status: CrawlStatus,
    pages_fetched: int,
    items_discovered: int,
    new_articles: int,
    error_kinds: dict[str, int],
    error_samples: list[dict[str, str]],
    rechecked: int = 0,
    edited: int = 0,
) -> None:
    """Record how the crawl ended: counts, errors by kind, re-checks and edits found."""
    row = session.get(CrawlRunRow, run_id)
    if row is None:
        return
    row.finished_at = finished_at
    row.status = status
    row.pages_fetched = pages_fetched
    row.items_discovered = items_discovered
    row.new_articles = new_articles
    row.errors = sum(error_kinds.values())
    row.error_kinds = dict(error_kinds)
    row.error_samples = {"samples": error_samples}
    row.rechecked, row.edited = rechecked, edited


def mark_interrupted(session: Session, now: datetime) -> int:
    """Runs left "running" by a process that died are closed as "interrupted"."""
    rows = list(
        session.scalars(select(CrawlRunRow).where(CrawlRunRow.status == CrawlStatus.RUNNING))
    )
    for row in rows:
        row.status, row.finished_at = CrawlStatus.INTERRUPTED, now
    return len(rows)


@dataclass(frozen=True)
class OutletStatus:
    """An outlet's latest run and how long it has gone without news."""

    outlet_id: str
    last_started: datetime | None
    last_finished: datetime | None
    last_status: str | None
    last_pages: int
    last_new: int
    last_errors: int
    last_error_kinds: dict[str, int]
    runs_without_new: int
    articles: int


def outlet_statuses(
    session: Session, outlet_ids: list[str], recent: int = 20
) -> list[OutletStatus]:
    """Per outlet: its latest run, how many runs since one found something (counted over
    its `recent` runs at most), stored count (these outlets' alone: the daemon asks for one
    outlet after each of its crawls, and every outlet's count read the whole table)."""
    counts = dict(
        session.execute(
            select(ArticleRow.outlet_id, func.count())
            .where(ArticleRow.outlet_id.in_(outlet_ids))
            .group_by(ArticleRow.outlet_id)
        ).all()
    )
    result = []
    for outlet_id in outlet_ids:
        runs = list(
            session.scalars(
                select(CrawlRunRow)
                .where(CrawlRunRow.outlet_id == outlet_id)
                .order_by(CrawlRunRow.started_at.desc(), CrawlRunRow.id.desc())
                .limit(recent)
            )
        )
        last = runs[0] if runs else None
        dry = 0
        for run in runs:
            if run.new_articles or run.status == CrawlStatus.RUNNING:
                break
            dry += 1
        result.append(
            OutletStatus(
                outlet_id=outlet_id,
                last_started=last.started_at if last else None,
                last_finished=last.finished_at if last else None,
                last_status=last.status if last else None,
                last_pages=last.pages_fetched if last else 0,
                last_new=last.new_articles if last else 0,
                last_errors=last.errors if last else 0,
                last_error_kinds=dict(last.error_kinds) if last else {},
                runs_without_new=dry,
                articles=int(counts.get(outlet_id, 0)),
            )
        )
    return result
