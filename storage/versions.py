"""Edited articles: the re-check schedule, when a re-fetched page is a new version, and the
versions themselves.

An article is re-fetched at its [crawl] recheck steps after it was first seen (1h, 6h, 24h by
default). A re-fetched page is a new version when its title changed, or its text changed
beyond EDIT_SIMILARITY / EDIT_WORDS (a typo fixed or a "5 minutes ago" in the text is not an
edit). `articles` always holds the latest version; `article_versions` keeps every version of
an edited article (its first included), and nothing for one never edited.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from difflib import SequenceMatcher

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import ArticleRow, ArticleVersionRow, MatchRow

# A text is edited when its words are less than 98% alike (difflib's ratio over the two word
# lists: 2 x words in common / words in both) or at least EDIT_WORDS words were inserted,
# deleted or replaced: the first catches a change to a short piece, the second a paragraph
# added to a long one.
EDIT_SIMILARITY = 0.98
EDIT_WORDS = 20


@dataclass(frozen=True)
class Change:
    """How a re-fetched page differs from the stored version."""

    title_changed: bool
    words_changed: int  # words inserted, deleted or replaced in the text
    similarity: float  # of the texts' words, 0..1

    @property
    def is_edit(self) -> bool:
        """A new version: the title changed, or the text beyond the documented threshold."""
        return (
            self.title_changed
            or self.similarity < EDIT_SIMILARITY
            or self.words_changed >= EDIT_WORDS
        )


def _same_title(old: str, new: str) -> bool:
    return " ".join(old.split()) == " ".join(new.split())


# difflib's worst case takes time in proportion to the product of the two lengths (a page of
# 100,000 words against a shuffle of them: hours, inside the crawl's write transaction). The
# words both versions share at the start and at the end are set aside first (an edit touches
# a few places); the rest goes to difflib only while the product of its lengths is at most
# MAX_DIFF_CELLS (worst case about half a second), else it is compared more coarsely.
MAX_DIFF_CELLS = 16_000_000
Opcode = tuple[str, int, int, int, int]


def _common_ends(a: Sequence[str], b: Sequence[str]) -> tuple[int, int]:
    """How many words `a` and `b` share at their start, and then at their end."""
    n, m = len(a), len(b)
    head = 0
    while head < n and head < m and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < n - head and tail < m - head and a[n - 1 - tail] == b[m - 1 - tail]:
        tail += 1
    return head, tail


def word_opcodes(
    a: Sequence[str], b: Sequence[str], max_cells: int = MAX_DIFF_CELLS
) -> list[Opcode]:
    """difflib's opcodes turning `a` into `b`, in bounded time: the shared start and end are
    "equal", and a middle too long to compare within `max_cells` is replaced as a whole."""
    head, tail = _common_ends(a, b)
    i2, j2 = len(a) - tail, len(b) - tail
    ops: list[Opcode] = [("equal", 0, head, 0, head)] if head else []
    if (i2 - head) * (j2 - head) <= max_cells:
        matcher = SequenceMatcher(None, a[head:i2], b[head:j2], autojunk=False)
        ops += [
            (op, x1 + head, x2 + head, y1 + head, y2 + head)
            for op, x1, x2, y1, y2 in matcher.get_opcodes()
            if x2 > x1 or y2 > y1
        ]
    else:
        ops.append(("replace", head, i2, head, j2))
    if tail:
        ops.append(("equal", i2, len(a), j2, len(b)))
    return ops


def measure_change(old_title: str, old_text: str, new_title: str, new_text: str) -> Change:
    """The change from one version to the next, word by word (white space ignored).

    In bounded time (MAX_DIFF_CELLS): a middle too long for difflib is measured by the words
    each side has that the other lacks, which a moved paragraph does not count."""
    title_changed = not _same_title(old_title, new_title)
    old_words, new_words = old_text.split(), new_text.split()
    if old_words == new_words:
        return Change(title_changed, 0, 1.0)
    head, tail = _common_ends(old_words, new_words)
    i2, j2 = len(old_words) - tail, len(new_words) - tail
    if (i2 - head) * (j2 - head) <= MAX_DIFF_CELLS:
        ops = word_opcodes(old_words, new_words)
        changed = sum(max(x2 - x1, y2 - y1) for op, x1, x2, y1, y2 in ops if op != "equal")
        same = sum(x2 - x1 for op, x1, x2, _, _ in ops if op == "equal")
    else:
        was, now = Counter(old_words[head:i2]), Counter(new_words[head:j2])
        changed = max(sum((was - now).values()), sum((now - was).values()))
        same = head + tail + sum((was & now).values())
    return Change(title_changed, changed, 2.0 * same / (len(old_words) + len(new_words)))


# the schedule


def first_recheck(first_seen: datetime, schedule: Sequence[timedelta]) -> datetime | None:
    """When a newly stored article is first re-checked; None when re-checks are off."""
    return first_seen + schedule[0] if schedule else None


def next_step(
    first_seen: datetime, done: int, schedule: Sequence[timedelta], now: datetime
) -> tuple[int, datetime | None]:
    """The next re-check from step `done` on: (its step, when it is due), or (the number of
    steps, None) when none is left.

    Steps whose time has already passed (the daemon was down, the outlet's runs were full)
    are skipped: one re-check now stands for them.
    """
    for step in range(done, len(schedule)):
        due = first_seen + schedule[step]
        if due > now:
            return step, due
    return len(schedule), None


@dataclass(frozen=True)
class DueRecheck:
    """An article to fetch again, with the validators its page gave."""

    article_id: int
    url: str
    etag: str | None
    last_modified: str | None


def claim_due_rechecks(
    session: Session,
    outlet_id: str,
    schedule: Sequence[timedelta],
    now: datetime,
    limit: int,
) -> list[DueRecheck]:
    """The outlet's articles due for a re-check (the longest waiting first, at most `limit`),
    each moved on to its next step at once.

    Moving on when handed out, not when answered, means a page that fails (a timeout, an
    extraction that crashes) costs one step, not a re-fetch on every run; an outlet is never
    crawled twice at once, so no two crawls take the same article.
    """
    if not schedule or limit <= 0:
        return []
    rows = session.execute(
        select(
            ArticleRow.id,
            ArticleRow.url,
            ArticleRow.etag,
            ArticleRow.last_modified,
            ArticleRow.first_seen,
            ArticleRow.rechecks,
        )
        .where(ArticleRow.outlet_id == outlet_id, ArticleRow.next_recheck_at <= now)
        .order_by(ArticleRow.next_recheck_at, ArticleRow.id)
        .limit(limit)
    ).all()
    due = []
    for article_id, url, etag, last_modified, first_seen, done in rows:
        steps, next_at = next_step(first_seen, done + 1, schedule, now)
        row = session.get(ArticleRow, article_id)
        assert row is not None
        row.rechecks, row.next_recheck_at = steps, next_at
        due.append(DueRecheck(article_id, url, etag, last_modified))
    session.flush()
    return due


# versions


@dataclass(frozen=True)
class VersionMatch:
    """A term match of the new version (storage.articles.NewMatch has the same fields)."""

    topic: str
    term: str
    title_count: int
    text_count: int


@dataclass
class Refetched:
    """A re-checked page as the pipeline extracted and scored it."""

    title: str
    text: str
    score: float
    matches: list[VersionMatch] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class RecheckResult:
    """What a re-check did: the article (None if it is gone), the new version stored (None
    when the page had not changed enough) and the change measured."""

    article: ArticleRow | None
    version: int | None
    change: Change | None


def apply_recheck(
    session: Session, article_id: int, page: Refetched, now: datetime
) -> RecheckResult:
    """Store a re-fetched page as the article's next version if it is an edit.

    The article row then holds the new title, text, score and matches (the full-text index
    follows: 0002's triggers fire on UPDATE OF title, text; PostgreSQL's column is generated).
    The validators are kept whatever the outcome, for the next conditional request.
    """
    row = session.get(ArticleRow, article_id)
    if row is None:
        return RecheckResult(None, None, None)
    row.etag, row.last_modified = page.etag, page.last_modified
    # A page whose title did not come out this time has not lost its headline.
    title = page.title or row.title
    change = measure_change(row.title, row.text, title, page.text)
    if not change.is_edit:
        return RecheckResult(row, None, change)
    if row.version == 1:
        session.add(_version(row.id, 1, row.first_seen, row.title, row.text))
    version = row.version + 1
    session.add(_version(row.id, version, now, title, page.text))
    row.title, row.text, row.word_count = title, page.text, len(page.text.split())
    row.score, row.version, row.edited_at = page.score, version, now
    # The old matches go first: (article, topic, term) is unique, and the unit of work would
    # insert the new rows before deleting the old.
    row.matches.clear()
    session.flush()
    row.matches.extend(
        MatchRow(topic=m.topic, term=m.term, title_count=m.title_count, text_count=m.text_count)
        for m in page.matches
    )
    session.flush()
    return RecheckResult(row, version, change)


def _version(article_id: int, n: int, seen: datetime, title: str, text: str) -> ArticleVersionRow:
    return ArticleVersionRow(article_id=article_id, version=n, seen_at=seen, title=title, text=text)


@dataclass(frozen=True)
class Version:
    """One version of an article as people see it."""

    version: int
    seen_at: datetime
    title: str
    text: str


def article_versions(session: Session, article: ArticleRow) -> list[Version]:
    """Every version of the article, oldest first; one (the article itself) if never edited."""
    rows = session.scalars(
        select(ArticleVersionRow)
        .where(ArticleVersionRow.article_id == article.id)
        .order_by(ArticleVersionRow.version)
    ).all()
    if not rows:
        return [Version(1, article.first_seen, article.title, article.text)]
    return [Version(r.version, r.seen_at, r.title, r.text) for r in rows]
