"""Put articles straight into a test database, scored by the real rules."""

from datetime import datetime
from typing import Any

from alerts.assessment import assess
from alerts.outbox import AlertQueue
from alerts.rules import RuleSet
from crawler.config import Config
from crawler.extraction.page import fingerprint
from storage.articles import NewArticle, NewMatch, OutletInfo, insert_article, sync_outlets
from storage.db import Database


def open_db(config: Config) -> Database:
    db = Database(config.database.url)
    db.upgrade()
    with db.write() as s:
        sync_outlets(
            s, [OutletInfo(o.id, o.name, o.country, o.language) for o in config.active_outlets()]
        )
    return db


def store(
    db: Database,
    config: Config,
    outlet: str,
    key: str,
    title: str,
    text: str,
    first_seen: datetime,
    queue: bool = True,
) -> Any:
    """Store one article as the pipeline would (immediate alerts queued in the same transaction)."""
    assessment = assess(title, text, RuleSet(config.topics))
    new = NewArticle(
        url=f"https://{key}",
        url_key=key,
        outlet_id=outlet,
        title=title,
        text=text,
        published=first_seen,
        date_source="page",
        score=assessment.total,
        simhash=fingerprint(text),
        matches=[
            NewMatch(m.topic, m.term, m.title_count, m.text_count) for m in assessment.matches
        ],
    )
    with db.write() as session:
        row = insert_article(session, new, first_seen)
        if row is not None and queue:
            AlertQueue(config.subscriptions).enqueue_for_article(session, row, first_seen)
        return row
