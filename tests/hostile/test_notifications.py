"""Hostile page text on its way to a chat channel: a headline that would ping a whole Discord
or Mattermost channel (@everyone, @here, <@&role>) reaches the webhook defused, while the
article's address and an email address in it stay as they are."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.delivery import deliver_pending
from alerts.rules import RuleSet
from crawler.config import config_from_dict
from tests.articles import open_db, store
from tests.conftest import write_config
from tests.webhook import Webhook

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
TITLE = "@everyone FATF grey list <@&1234> decision (@here)"
TEXT = (
    "Pakistan left the FATF grey list in 2022, @channel. Write to desk@example.org. The "
    "Financial Action Task Force will review progress again next year. <!channel> "
) * 3


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.stop()


def test_mentions_in_page_text_ping_nobody(tmp_path: Path, webhook: Webhook) -> None:
    raw = {
        "database": {"url": f"sqlite:///{tmp_path / 'mw.db'}"},
        "catalogue": {"include": []},
        "outlets": [{"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/feed"]}],
        "subscriptions": [{"notify": [webhook.url()], "topics": ["fatf"]}],
    }
    path = write_config(tmp_path / "mediawatch.toml", raw)
    config = config_from_dict(raw, str(path))
    db = open_db(config)
    store(db, config, "dawn", "dawn.example/@desk/fatf", TITLE, TEXT, NOW)
    assert deliver_pending(config, db, RuleSet(config.topics), NOW).sent == 1
    db.dispose()
    [sent] = webhook.delivered
    for text in (sent["title"], sent["message"]):
        for mention in ("@everyone", "@here", "<@&1234>", "@channel", "<!channel>"):
            assert mention not in text
    assert "@\u200beveryone FATF grey list" in sent["title"]
    assert "desk@example.org" in sent["message"]
    assert "https://dawn.example/@desk/fatf" in sent["message"]
