"""The outbox's once-only keys for every kind of alert and channel, on SQLite and PostgreSQL."""

from datetime import UTC, datetime

from sqlalchemy import select

from storage.db import open_database
from storage.models import AlertRow, ArticleRow, OutletRow
from storage.outbox import (
    Recipient,
    channel_key,
    list_alerts,
    queue_alerts,
    queue_spike_alerts,
    record_spike,
)
from storage.statuses import AlertKind

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _article(session: object, article_id: int, duplicate_of: int | None = None) -> ArticleRow:
    row = ArticleRow(
        id=article_id,
        url=f"https://e.org/{article_id}",
        url_key=f"e.org/{article_id}",
        outlet_id="dawn",
        title=f"Piece {article_id}",
        text="FATF",
        first_seen=NOW,
        duplicate_of_id=duplicate_of,
    )
    session.add(row)  # type: ignore[attr-defined]
    return row


def test_each_kind_and_channel_is_queued_once(db_url: str) -> None:
    slack = channel_key("slack://secret-token/channel")
    assert slack.startswith("notify:") and "secret" not in slack
    with open_database(db_url) as db, db.write() as session:
        session.add(OutletRow(id="dawn", name="Dawn"))
        session.flush()
        first, copy = _article(session, 1), _article(session, 2, duplicate_of=1)
        session.flush()
        both = ["desk@e.org", Recipient("desk@e.org", slack)]
        assert queue_alerts(session, first, both, NOW) == 2
        # the syndicated copy is the same story: nothing new, on either channel
        assert queue_alerts(session, copy, both, NOW) == 0
        # edits: once per version
        assert queue_alerts(session, first, both, NOW, kind=AlertKind.EDIT, version=2) == 2
        assert queue_alerts(session, first, both, NOW, kind=AlertKind.EDIT, version=2) == 0
        assert (
            queue_alerts(session, first, ["desk@e.org"], NOW, kind=AlertKind.EDIT, version=3) == 1
        )
        # spikes: recorded once (the first count stays), alerted once per subscription
        spike = record_spike(session, "fatf", "2026-11-26", "Asia/Karachi", 9, 1.5, NOW)
        again = record_spike(session, "fatf", "2026-11-26", "Asia/Karachi", 12, 1.5, NOW)
        assert (again.id, again.stories) == (spike.id, 9)
        assert queue_spike_alerts(session, spike, both, NOW) == 2
        assert queue_spike_alerts(session, again, both, NOW) == 0
        kinds = session.scalars(select(AlertRow.kind).order_by(AlertRow.id)).all()
        assert kinds == ["article"] * 2 + ["edit"] * 3 + ["spike"] * 2
        listing = list_alerts(session)
        assert [(a.kind, a.channel) for a in listing[:2]] == [("spike", slack), ("spike", "email")]
        assert listing[0].title == "fatf on 2026-11-26: 9 stories"
        assert listing[0].article_id is None
