"""What a crawl remembers about its sources: validators for conditional requests, how far a
backfill got, and how far back the crawls reach. Plain dataclasses in and out; callers own
the transaction."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import BackfillProgressRow, SeenUrlRow, SourceValidatorRow
from storage.state import get_state, set_state
from storage.statuses import SeenOutcome

# The URL columns' size: a longer URL (a hostile sitemap index may list one) is not
# remembered, rather than failing the whole outlet's save on PostgreSQL.
MAX_SOURCE_URL = 2048


@dataclass(frozen=True)
class StoredValidators:
    """A source's ETag and Last-Modified; for a sitemap index, its children as [url, lastmod]."""

    etag: str | None
    last_modified: str | None
    children: list[list[Any]] | None = None


def load_validators(session: Session, outlet_id: str) -> dict[str, StoredValidators]:
    """Source URL -> validators, for one outlet."""
    rows = session.scalars(
        select(SourceValidatorRow).where(SourceValidatorRow.outlet_id == outlet_id)
    )
    return {r.url: StoredValidators(r.etag, r.last_modified, r.children) for r in rows}


def save_validators(
    session: Session,
    outlet_id: str,
    keep: Mapping[str, StoredValidators],
    forget: Iterable[str],
    now: datetime,
) -> None:
    """Store `keep` (replacing what was there) and drop the validators of `forget`, whose next
    answer must be read in full."""
    gone = list(dict.fromkeys([*forget, *keep]))
    for i in range(0, len(gone), 500):
        session.execute(
            delete(SourceValidatorRow).where(
                SourceValidatorRow.outlet_id == outlet_id,
                SourceValidatorRow.url.in_(gone[i : i + 500]),
            )
        )
    session.add_all(
        SourceValidatorRow(
            outlet_id=outlet_id,
            url=url,
            etag=v.etag,
            last_modified=v.last_modified,
            children=v.children,
            updated_at=now,
        )
        for url, v in keep.items()
        if len(url) <= MAX_SOURCE_URL
    )


MAX_AGE_KEY = "crawl.max_age_days"


def note_max_age(session: Session, max_age_days: int, now: datetime) -> int:
    """At the start of a crawl: when max_age_days has grown since the crawls before, forget
    the pages they judged too old and every source's validators, so that the articles the
    longer reach takes in are fetched (a page once too old is never fetched again, and an
    unchanged sitemap's 304 lists nothing); the pages forgotten."""
    before = get_state(session, MAX_AGE_KEY)
    if before == str(max_age_days):
        return 0
    set_state(session, MAX_AGE_KEY, str(max_age_days), now)
    if before is None or not before.isdigit() or int(before) >= max_age_days:
        return 0
    too_old = delete(SeenUrlRow).where(SeenUrlRow.outcome == str(SeenOutcome.TOO_OLD))
    forgotten = session.connection().execute(too_old).rowcount
    session.execute(delete(SourceValidatorRow))
    return int(forgotten or 0)


@dataclass(frozen=True)
class SourceProgress:
    """How far a backfill got with one child sitemap or listing, for articles from `since`."""

    source: str
    kind: str  # "sitemap" or "listing"
    since: datetime
    pages_done: int = 0
    complete: bool = False


def load_progress(session: Session, outlet_id: str) -> list[SourceProgress]:
    """Every source of this outlet a backfill finished (or got some way through)."""
    rows = session.scalars(
        select(BackfillProgressRow).where(BackfillProgressRow.outlet_id == outlet_id)
    )
    return [SourceProgress(r.source, r.kind, r.since, r.pages_done, r.complete) for r in rows]


def save_progress(
    session: Session, outlet_id: str, marks: Iterable[SourceProgress], now: datetime
) -> None:
    """Record progress, replacing what was recorded for the same sources."""
    for mark in marks:
        if len(mark.source) > MAX_SOURCE_URL:
            continue  # read again by the next backfill: slower, nothing lost
        row = session.get(BackfillProgressRow, (outlet_id, mark.source))
        if row is None:
            row = BackfillProgressRow(outlet_id=outlet_id, source=mark.source)
            session.add(row)
        row.kind, row.since, row.pages_done = mark.kind, mark.since, mark.pages_done
        row.complete, row.updated_at = mark.complete, now
