"""Topic rules over the stored archive: what a rule change would do (`rules test`), doing it
(`rules apply`), and how well the rules agree with readers' marks (`rules eval`).

The archive is read in batches of BATCH articles by id (keyset paging, never OFFSET), each
batch in its own short transaction, so memory stays flat and a running crawler is never held
up for long, whatever the archive's size. Matching goes through `alerts.assessment.assess`,
the one path from a page to its score, so a rescored article scores as a newly crawled one.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from alerts.assessment import Assessment, assess
from alerts.outbox import AlertQueue
from alerts.rules import RuleSet
from alerts.settings import Subscriber
from crawler.archive.rulestate import note_applied_rules, rules_fingerprint
from storage.db import Database
from storage.labels import topic_labels
from storage.models import ArticleRow, CrawlRunRow, MatchRow
from storage.queries import ArticleFilter, filter_clauses

BATCH = 500
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Listed:
    """An article as `rules test` lists it: title, outlet, date and score."""

    id: int
    title: str
    outlet: str
    published: datetime | None
    score: float


@dataclass(frozen=True)
class Quality:
    """A topic's agreement with readers' marks; None where a ratio has no denominator."""

    labelled: int
    precision: float | None
    recall: float | None
    f1: float | None

    def as_json(self, topic: str) -> dict[str, Any]:
        return {
            "topic": topic,
            "labelled": self.labelled,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


@dataclass
class TopicChange:
    """One topic of `rules test`: articles matching as stored, and with the rules tested."""

    topic: str
    name: str
    matching_now: int = 0
    would_match: int = 0
    gained_ids: list[int] = field(default_factory=list)
    lost_ids: list[int] = field(default_factory=list)
    # the first `describe` of each, with title, outlet, date and score
    gained: list[Listed] = field(default_factory=list)
    lost: list[Listed] = field(default_factory=list)
    quality_now: Quality | None = None
    quality_after: Quality | None = None

    def as_json(self) -> dict[str, Any]:
        """The contract's shape, exactly."""
        return {
            "topic": self.topic,
            "matching_now": self.matching_now,
            "would_match": self.would_match,
            "gained": self.gained_ids,
            "lost": self.lost_ids,
        }


def _window(since: datetime | None) -> list[Any]:
    return filter_clauses(ArticleFilter(since=since))


def _batches(db: Database, since: datetime | None) -> Iterator[list[Any]]:
    """The archive (published or first seen since `since`), BATCH rows at a time, by id."""
    last = 0
    while True:
        with db.read() as session:
            rows = session.execute(
                select(ArticleRow.id, ArticleRow.title, ArticleRow.text, ArticleRow.score)
                .where(ArticleRow.id > last, *_window(since))
                .order_by(ArticleRow.id)
                .limit(BATCH)
            ).all()
        if not rows:
            return
        yield list(rows)
        last = rows[-1].id


def _count(db: Database, since: datetime | None) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count(ArticleRow.id)).where(*_window(since))) or 0)


def _stored_topics(session: Session, ids: Sequence[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {i: set() for i in ids}
    for article_id, topic in session.execute(
        select(MatchRow.article_id, MatchRow.topic).where(MatchRow.article_id.in_(ids)).distinct()
    ):
        found[article_id].add(topic)
    return found


def _listed(db: Database, scores: dict[int, float], ids: Sequence[int]) -> dict[int, Listed]:
    """Title, outlet and date of these articles, with the score given (or the stored one)."""
    out: dict[int, Listed] = {}
    for i in range(0, len(ids), BATCH):
        with db.read() as session:
            for row in session.execute(
                select(
                    ArticleRow.id,
                    ArticleRow.title,
                    ArticleRow.outlet_id,
                    ArticleRow.published,
                    ArticleRow.score,
                ).where(ArticleRow.id.in_(ids[i : i + BATCH]))
            ):
                out[row.id] = Listed(
                    row.id, row.title, row.outlet_id, row.published, scores.get(row.id, row.score)
                )
    return out


def try_rules(
    db: Database,
    topics: Sequence[Any],
    since: datetime | None = None,
    progress: Progress | None = None,
    describe: int = 50,
) -> list[TopicChange]:
    """For each topic: how many stored articles match it now (as stored) and would match
    with `topics`, the articles gained and lost, and (where readers marked articles) how
    precision and recall would move. Nothing is written."""
    rules = RuleSet(topics)
    wanted = [t.id for t in topics]
    changes = {t.id: TopicChange(t.id, t.name) for t in topics}
    new_scores: dict[int, float] = {}
    total, done = (_count(db, since) if progress else 0), 0
    for rows in _batches(db, since):
        with db.read() as session:
            stored = _stored_topics(session, [r.id for r in rows])
        for row in rows:
            assessment = assess(row.title, row.text, rules)
            now_topics, new_topics = stored[row.id], set(assessment.score.topic_ids)
            for topic in wanted:
                before, after = topic in now_topics, topic in new_topics
                changes[topic].matching_now += before
                changes[topic].would_match += after
                if after and not before:
                    changes[topic].gained_ids.append(row.id)
                    if len(changes[topic].gained_ids) <= describe:
                        new_scores[row.id] = assessment.total
                elif before and not after:
                    changes[topic].lost_ids.append(row.id)
        done += len(rows)
        if progress:
            progress(done, total)
    described = {
        i for c in changes.values() for i in [*c.gained_ids[:describe], *c.lost_ids[:describe]]
    }
    shown = _listed(db, new_scores, sorted(described))
    for c in changes.values():
        c.gained = [shown[i] for i in c.gained_ids[:describe] if i in shown]
        c.lost = [shown[i] for i in c.lost_ids[:describe] if i in shown]
    for topic, (now_q, after_q) in label_quality(db, rules, wanted).items():
        changes[topic].quality_now, changes[topic].quality_after = now_q, after_q
    return [changes[t] for t in wanted]


def quality(marks: dict[int, bool], predicted: set[int]) -> Quality:
    """Precision, recall and F1 of `predicted` against readers' marks (recall over the
    articles marked relevant), rounded to 4 places."""
    relevant = {i for i, r in marks.items() if r}
    hits = predicted & set(marks)
    tp = len(hits & relevant)
    precision = tp / len(hits) if hits else None
    recall = tp / len(relevant) if relevant else None
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Quality(
        labelled=len(marks),
        precision=None if precision is None else round(precision, 4),
        recall=None if recall is None else round(recall, 4),
        f1=None if f1 is None else round(f1, 4),
    )


def label_quality(
    db: Database, rules: RuleSet, topics: Sequence[str]
) -> dict[str, tuple[Quality, Quality]]:
    """Per marked topic: the quality of the archive as stored, and with `rules` applied to
    the marked articles (read in batches; marks are few next to the archive)."""
    with db.read() as session:
        marks = topic_labels(session, topics)
    ids = sorted({i for per in marks.values() for i in per})
    stored: dict[str, set[int]] = {t: set() for t in marks}
    would: dict[str, set[int]] = {t: set() for t in marks}
    for i in range(0, len(ids), BATCH):
        with db.read() as session:
            chunk = ids[i : i + BATCH]
            for article_id, found in _stored_topics(session, chunk).items():
                for topic in found & set(marks):
                    stored[topic].add(article_id)
            for row in session.execute(
                select(ArticleRow.id, ArticleRow.title, ArticleRow.text).where(
                    ArticleRow.id.in_(chunk)
                )
            ):
                for topic in {m.topic for m in rules.match(row.title, row.text)} & set(marks):
                    would[topic].add(row.id)
    return {t: (quality(marks[t], stored[t]), quality(marks[t], would[t])) for t in marks}


def evaluate(db: Database, topics: Sequence[Any]) -> list[tuple[str, Quality]]:
    """`rules eval`: each topic's precision, recall and F1 against readers' marks, for the
    rules as configured (applied afresh to the marked articles, so an edited rule is measured
    before `rules apply`)."""
    wanted = [t.id for t in topics]
    measured = label_quality(db, RuleSet(topics), wanted)
    none = Quality(0, None, None, None)
    return [(t, measured[t][1] if t in measured else none) for t in wanted]


@dataclass
class ApplyReport:
    """What `rules apply` did."""

    articles: int = 0
    rescored: int = 0
    alerts_queued: int = 0


def last_crawl_start(session: Session) -> datetime | None:
    """When the most recent crawl run began (articles first seen before it are old news)."""
    return session.scalar(select(func.max(CrawlRunRow.started_at)))


def apply_rules(
    db: Database,
    topics: Sequence[Any],
    subscriptions: Sequence[Subscriber],
    now: datetime,
    progress: Progress | None = None,
) -> ApplyReport:
    """Rescore every stored article with `topics`: its matches and score, batch by batch.

    No alert is queued for an article first seen before the last crawl began: readers were
    told about it (or not) when it was news, and a rule change must not flood their inboxes
    with the archive. An article stored since (by a crawl running now) is alerted as the
    crawl would alert it, once per story as always. Then the rules are recorded as the
    archive's (so `status` and `crawl` stop warning).
    """
    rules = RuleSet(topics)
    queue = AlertQueue(subscriptions)
    report = ApplyReport()
    with db.read() as session:
        cutoff = last_crawl_start(session)
    total = _count(db, None) if progress else 0
    for rows in _batches(db, None):
        with db.read() as session:
            stored = _stored_matches(session, [r.id for r in rows])
        changed = {}
        for row in rows:
            assessment = assess(row.title, row.text, rules)
            if _as_stored(assessment) != stored[row.id] or assessment.total != row.score:
                changed[row.id] = assessment
        if changed:
            with db.write() as session:
                _rewrite(session, changed)
                if cutoff is not None:
                    report.alerts_queued += _queue_recent(session, queue, changed, cutoff, now)
        report.articles += len(rows)
        report.rescored += len(changed)
        if progress:
            progress(report.articles, total)
    with db.write() as session:
        note_applied_rules(session, rules_fingerprint(topics), now)
    return report


MatchKey = frozenset[tuple[str, str, int, int]]


def _as_stored(assessment: Assessment) -> MatchKey:
    return frozenset((m.topic, m.term, m.title_count, m.text_count) for m in assessment.matches)


def _stored_matches(session: Session, ids: Sequence[int]) -> dict[int, MatchKey]:
    found: dict[int, set[tuple[str, str, int, int]]] = {i: set() for i in ids}
    for m in session.execute(
        select(
            MatchRow.article_id,
            MatchRow.topic,
            MatchRow.term,
            MatchRow.title_count,
            MatchRow.text_count,
        ).where(MatchRow.article_id.in_(ids))
    ):
        found[m.article_id].add((m.topic, m.term, m.title_count, m.text_count))
    return {i: frozenset(v) for i, v in found.items()}


def _rewrite(session: Session, changed: dict[int, Assessment]) -> None:
    ids = list(changed)
    session.execute(delete(MatchRow).where(MatchRow.article_id.in_(ids)))
    rows = [
        {
            "article_id": article_id,
            "topic": m.topic,
            "term": m.term,
            "title_count": m.title_count,
            "text_count": m.text_count,
        }
        for article_id, a in changed.items()
        for m in a.matches
    ]
    if rows:
        session.execute(insert(MatchRow), rows)
    for article_id, a in changed.items():
        session.execute(update(ArticleRow).where(ArticleRow.id == article_id).values(score=a.total))


def _queue_recent(
    session: Session,
    queue: AlertQueue,
    changed: dict[int, Assessment],
    cutoff: datetime,
    now: datetime,
) -> int:
    before = queue.queued
    recent = session.scalars(
        select(ArticleRow).where(ArticleRow.id.in_(list(changed)), ArticleRow.first_seen >= cutoff)
    )
    for row in recent:
        session.refresh(row, ["matches"])
        queue.enqueue_for_article(session, row, now)
    return queue.queued - before
