"""Which rules the stored articles were scored with: a fingerprint of the topics in `state`.

Topics apply to an article when it is stored. After the configured topics change, the
archive holds scores and matches from the old rules until `mediawatch rules apply` rescores
it; `crawl`, `run` and `status` compare the configured topics' fingerprint with the stored
one and say so. A crawl records the fingerprint only when none is stored yet or the archive
is empty (so the warning stays until the archive is rescored); `rules apply` records it after
rescoring everything.
"""

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.scoring import TITLE_WEIGHT, TOPIC_BONUS
from storage.models import ArticleRow
from storage.state import get_state, set_state

RULES_KEY = "rules_fingerprint"
# The fields that decide what a topic matches and scores; its display name does not.
_IGNORED = {"name"}
_FIELDS = ("id", "terms", "context", "exclude", "weight", "query")
DRIFT_MESSAGE = (
    "the stored articles were scored with other topics than the configured ones (topics "
    "apply to articles as they are stored): `mediawatch rules apply` rescores the archive, "
    "and `mediawatch rules test` shows first what would change"
)


def _describe(topic: Any) -> dict[str, Any]:
    if hasattr(topic, "model_dump"):
        data: dict[str, Any] = topic.model_dump(exclude=_IGNORED, mode="json")
        return data
    return {name: getattr(topic, name, None) for name in _FIELDS}


def rules_fingerprint(topics: Iterable[Any]) -> str:
    """A short hash of every topic's matching rules and the scoring constants."""
    described = sorted((_describe(t) for t in topics), key=lambda d: str(d.get("id")))
    payload = json.dumps(
        {"topics": described, "scoring": [TITLE_WEIGHT, TOPIC_BONUS]},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def rules_changed(session: Session, fingerprint: str) -> bool:
    """Whether stored articles were scored with other rules than `fingerprint`'s."""
    stored = get_state(session, RULES_KEY)
    return stored is not None and stored != fingerprint


def note_crawl_rules(session: Session, fingerprint: str, now: datetime) -> bool:
    """At the start of a crawl: record the rules when the archive has none recorded (a new
    archive, or one from before fingerprints) or holds no article; True when the stored
    articles were scored with other rules (the crawl should warn)."""
    stored = get_state(session, RULES_KEY)
    if stored == fingerprint:
        return False
    empty = session.scalars(select(ArticleRow.id).limit(1)).first() is None
    if stored is None or empty:
        set_state(session, RULES_KEY, fingerprint, now)
        return False
    return True


def note_applied_rules(session: Session, fingerprint: str, now: datetime) -> None:
    """After `rules apply`: every stored article is scored with these rules."""
    set_state(session, RULES_KEY, fingerprint, now)
