"""Writing articles: the seen-URL memory, near-duplicate lookup and the insert itself.

Plain dataclasses in, rows out; callers own the transaction (Database.write()).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Insert, String, bindparam, literal_column, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import ArticleRow, MatchRow, OutletRow, SeenUrlRow
from storage.statuses import TRANSIENT, SeenOutcome

NEAR_DUPLICATE_BITS = 3  # SimHash bits two copies of one piece may differ in
ARTICLE_WRITE_LOCK = 0x6D77_0001  # PostgreSQL advisory lock key for article inserts
# A gone, not_article or challenge article URL is fetched again this long after it was first
# seen (an article linked from a feed a minute before it goes live, a challenge shown once),
# then remembered for good.
RETRY_SCHEDULE = (timedelta(minutes=10), timedelta(hours=1), timedelta(days=1))


@dataclass(frozen=True)
class NewMatch:
    """A term match to store with its article."""

    topic: str
    term: str
    title_count: int
    text_count: int


@dataclass
class NewArticle:
    """An article ready to store, as the pipeline built it."""

    url: str
    url_key: str
    outlet_id: str
    title: str
    text: str
    published: datetime | None
    date_source: str
    score: float
    simhash: int
    author: str | None = None
    language: str | None = None
    site_name: str | None = None
    matches: list[NewMatch] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    # the page's validators and its first re-check (storage/versions.py)
    etag: str | None = None
    last_modified: str | None = None
    next_recheck_at: datetime | None = None


@dataclass(frozen=True)
class OutletInfo:
    """An outlet as the database records it."""

    id: str
    name: str
    country: str
    language: str


def sync_outlets(session: Session, outlets: Iterable[OutletInfo]) -> None:
    """Upsert the outlets in use, so articles and runs can reference them."""
    for o in outlets:
        row = session.get(OutletRow, o.id)
        if row is None:
            session.add(OutletRow(id=o.id, name=o.name, country=o.country, language=o.language))
        else:
            row.name, row.country, row.language = o.name, o.country, o.language


def known_url_keys(
    session: Session, keys: Iterable[str], now: datetime, refetch: Iterable[str] = ()
) -> set[str]:
    """Which of these URL keys are not to be fetched at `now`: a permanent outcome (stored,
    too old...), or a transient one (gone, not_article, challenge) whose retry time has not come.
    Outcomes in `refetch` count as unknown (a backfill fetches `too_old` pages again)."""
    skip = [str(o) for o in refetch]
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return set()
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        found.update(
            session.scalars(
                select(SeenUrlRow.url_key).where(
                    SeenUrlRow.url_key.in_(chunk),
                    or_(SeenUrlRow.retry_after.is_(None), SeenUrlRow.retry_after > now),
                    SeenUrlRow.outcome.not_in(skip),
                )
            )
        )
    return found


def retry_after(first_seen: datetime, attempts: int) -> datetime | None:
    """When a URL with `attempts` transient outcomes since `first_seen` may be fetched again;
    None once RETRY_SCHEDULE is used up (remembered for good)."""
    if attempts > len(RETRY_SCHEDULE):
        return None
    return first_seen + RETRY_SCHEDULE[attempts - 1]


def record_seen(
    session: Session,
    keys: Iterable[str],
    outlet_id: str,
    outcome: SeenOutcome,
    now: datetime,
    article_id: int | None = None,
) -> None:
    """Remember URL keys as dealt with.

    A permanent outcome replaces a transient one (the article went live after a 404) and
    leaves a permanent one as it is. A transient outcome counts one more attempt and sets the
    next retry from RETRY_SCHEDULE; it never replaces a permanent outcome.
    """
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return
    if SeenOutcome(outcome) in TRANSIENT:
        _record_transient(session, wanted, outlet_id, SeenOutcome(outcome), now)
        return
    session.connection().execute(
        _upsert_stored(session.get_bind().dialect.name),
        [
            {
                "url_key": k,
                "outlet_id": outlet_id,
                "outcome": str(outcome),
                "article_id": article_id,
                "seen_at": now,
                "retry_after": None,
            }
            for k in wanted
        ],
    )


@cache
def _upsert_stored(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT DO UPDATE for permanent outcomes, built once per dialect (so
    SQLAlchemy compiles it once) and run with one parameter set per key: a permanent outcome
    replaces only a transient one."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(SeenUrlRow)
    transient = [literal_column(f"'{o}'", String) for o in sorted(TRANSIENT)]  # our constants
    return statement.on_conflict_do_update(
        index_elements=[SeenUrlRow.url_key],
        set_={
            "outcome": statement.excluded.outcome,
            "article_id": statement.excluded.article_id,
            "retry_after": None,
        },
        where=SeenUrlRow.outcome.in_(transient),
    )


def _record_transient(
    session: Session, keys: list[str], outlet_id: str, outcome: SeenOutcome, now: datetime
) -> None:
    # Callers hold the write transaction (BEGIN IMMEDIATE on SQLite; on PostgreSQL one outlet
    # is never crawled twice at once), so this read-then-write does not race.
    existing = {
        row.url_key: row
        for row in session.scalars(select(SeenUrlRow).where(SeenUrlRow.url_key.in_(keys)))
    }
    for key in keys:
        row = existing.get(key)
        if row is None:
            session.add(
                SeenUrlRow(
                    url_key=key,
                    outlet_id=outlet_id,
                    outcome=outcome,
                    seen_at=now,
                    attempts=1,
                    retry_after=retry_after(now, 1),
                )
            )
        elif row.outcome in TRANSIENT and row.retry_after is not None:
            row.outcome = outcome
            row.attempts += 1
            row.retry_after = retry_after(row.seen_at, row.attempts)
    session.flush()


def to_signed64(value: int) -> int:
    """SimHash is unsigned 64-bit; BIGINT is signed."""
    return value - (1 << 64) if value >= 1 << 63 else value


def bands(simhash: int) -> list[int]:
    """The four 16-bit bands of a SimHash, each indexed for near-duplicate lookup."""
    return [(simhash >> (16 * i)) & 0xFFFF for i in range(4)]


# Built once: a statement's construction costs more than SQLite's answer.
_NEAR_DUPLICATES = (
    select(ArticleRow.id, ArticleRow.simhash, ArticleRow.duplicate_of_id)
    .where(
        or_(
            ArticleRow.sim_band0 == bindparam("band0"),
            ArticleRow.sim_band1 == bindparam("band1"),
            ArticleRow.sim_band2 == bindparam("band2"),
            ArticleRow.sim_band3 == bindparam("band3"),
        )
    )
    .order_by(ArticleRow.id)
    .limit(200)
)
_STORED_ID = select(ArticleRow.id).where(ArticleRow.url_key == bindparam("key"))


def near_duplicate_of(session: Session, simhash: int) -> int | None:
    """The id of the first stored copy of a piece with (nearly) this SimHash, if any.

    Two hashes within NEAR_DUPLICATE_BITS bits share at least one of four 16-bit bands,
    so the indexed band columns find every candidate without scanning the table; only the
    three columns compared are read, not the candidates' rows. (Read through the connection,
    without the ORM's autoflush: insert_article flushes each article it adds.)
    """
    b = bands(simhash)
    candidates = session.connection().execute(
        _NEAR_DUPLICATES, {"band0": b[0], "band1": b[1], "band2": b[2], "band3": b[3]}
    )
    for id_, stored, first_copy in candidates:
        if near_duplicates(stored, simhash):
            return int(first_copy if first_copy is not None else id_)
    return None


def near_duplicates(a: int, b: int) -> bool:
    """Whether two SimHashes (signed as stored, or not) are copies of one piece."""
    return ((a % (1 << 64)) ^ (b % (1 << 64))).bit_count() <= NEAR_DUPLICATE_BITS


_STORED_SIMHASH = select(ArticleRow.simhash).where(ArticleRow.url_key == bindparam("key"))


def other_article_at(session: Session, key: str, simhash: int) -> bool:
    """Whether an article other than this SimHash's piece is stored under `key`: a page whose
    canonical link names it is not filed there (it would be dropped as a duplicate)."""
    stored = session.connection().execute(_STORED_SIMHASH, {"key": key}).scalar()
    return stored is not None and not near_duplicates(stored, simhash)


def _is_stored(session: Session, key: str) -> bool:
    """Whether an article is stored under this URL key (its id alone is read)."""
    return session.connection().execute(_STORED_ID, {"key": key}).first() is not None


def insert_article(session: Session, new: NewArticle, now: datetime) -> ArticleRow | None:
    """Store a new article with its matches and URL aliases; None if its URL is known.

    A near-duplicate is stored too, linked to the first copy through duplicate_of_id.
    The check-then-insert is serialised: SQLite's BEGIN IMMEDIATE already does it; on
    PostgreSQL a transaction-scoped advisory lock does, so two crawlers storing two copies of
    one piece at the same moment still link them (and alert once).
    """
    # The lookups below read through the connection, which does not autoflush: rows the
    # caller added in this session (an outlet, say) must reach the database first.
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ARTICLE_WRITE_LOCK})
    if _is_stored(session, new.url_key):
        record_seen(session, new.aliases, new.outlet_id, SeenOutcome.STORED, now)
        return None
    original = near_duplicate_of(session, new.simhash) if new.simhash else None
    b = bands(new.simhash)
    row = ArticleRow(
        url=new.url,
        url_key=new.url_key,
        outlet_id=new.outlet_id,
        title=new.title,
        author=new.author,
        published=new.published,
        date_source=new.date_source,
        language=new.language,
        site_name=new.site_name,
        text=new.text,
        word_count=len(new.text.split()),
        score=new.score,
        first_seen=now,
        simhash=to_signed64(new.simhash),
        sim_band0=b[0],
        sim_band1=b[1],
        sim_band2=b[2],
        sim_band3=b[3],
        duplicate_of_id=original,
        etag=new.etag,
        last_modified=new.last_modified,
        next_recheck_at=new.next_recheck_at,
        matches=[
            MatchRow(topic=m.topic, term=m.term, title_count=m.title_count, text_count=m.text_count)
            for m in new.matches
        ],
    )
    session.add(row)
    session.flush()
    record_seen(
        session, [new.url_key, *new.aliases], new.outlet_id, SeenOutcome.STORED, now, row.id
    )
    return row
