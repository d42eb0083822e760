"""Readers' relevance marks: one per (article, topic), what `rules eval` measures rules against."""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import RelevanceLabelRow


def set_label(
    session: Session, article_id: int, topic: str, relevant: bool | None, now: datetime
) -> None:
    """Mark an article relevant (True) or not (False) to a topic, replacing an earlier mark;
    None removes the mark."""
    if relevant is None:
        session.execute(
            delete(RelevanceLabelRow).where(
                RelevanceLabelRow.article_id == article_id, RelevanceLabelRow.topic == topic
            )
        )
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(RelevanceLabelRow).values(
        article_id=article_id, topic=topic, relevant=relevant, labelled_at=now
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[RelevanceLabelRow.article_id, RelevanceLabelRow.topic],
            set_={"relevant": relevant, "labelled_at": now},
        )
    )


def article_labels(session: Session, article_id: int) -> dict[str, bool]:
    """The marks of one article, by topic."""
    rows = session.execute(
        select(RelevanceLabelRow.topic, RelevanceLabelRow.relevant).where(
            RelevanceLabelRow.article_id == article_id
        )
    )
    return {topic: bool(relevant) for topic, relevant in rows}


def topic_labels(
    session: Session, topics: Iterable[str] | None = None
) -> dict[str, dict[int, bool]]:
    """Every mark, by topic then article id (only these topics when given)."""
    stmt = select(RelevanceLabelRow.topic, RelevanceLabelRow.article_id, RelevanceLabelRow.relevant)
    if topics is not None:
        stmt = stmt.where(RelevanceLabelRow.topic.in_(list(topics)))
    found: dict[str, dict[int, bool]] = {}
    for topic, article_id, relevant in session.execute(stmt):
        found.setdefault(topic, {})[int(article_id)] = bool(relevant)
    return found
