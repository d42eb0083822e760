"""The spike alert email: a topic has far more stories today than in the 14 days before.

`Subject: [mediawatch] Spike: <topic name>: <N> stories` and `X-Mediawatch-Spike: <topic id>
<day>` (the contract's shape); the body names the topic, the day's count, the baseline and the
rule, and links the day's best stories (titles escaped by the templates' autoescape, links
only for http(s) URLs), their publication times in the subscription's `timezone`.
"""

from datetime import date
from email.message import EmailMessage
from typing import Any

from sqlalchemy.orm import Session

from alerts.compose import email_article
from alerts.mailcontext import RenderContext
from alerts.render import build_message, header_text, safe_link, subscription_zone
from alerts.spikes import BASELINE_DAYS, local_day_bounds, poisson_tail
from storage.models import AlertRow, SpikeRow
from storage.trends import top_stories

TOP_STORIES = 5


def render_spike_alert(
    session: Session, alert: AlertRow, to: str, ctx: RenderContext
) -> EmailMessage | None:
    """The email for one spike alert; None when the spike row is gone."""
    spike = session.get(SpikeRow, alert.spike_id) if alert.spike_id is not None else None
    if spike is None:
        return None
    names = ctx.rules.names()
    name = names.get(spike.topic, spike.topic)
    start, end = local_day_bounds(date.fromisoformat(spike.day), spike.zone)
    stories = []
    for row, copies in top_stories(session, spike.topic, start, end, TOP_STORIES):
        article = email_article(row, ctx.rules, ctx.outlet_names)
        stories.append({"a": article, "link": safe_link(article.url), "copies": copies})
    context: dict[str, Any] = {
        "spike": spike,
        "name": name,
        "stories": stories,
        "days": BASELINE_DAYS,
        "probability": poisson_tail(spike.stories, spike.baseline),
        # The subscription's zone, which is also the zone its days are counted in.
        "zone": subscription_zone(ctx.config.subscriptions, alert.subscription, spike.zone),
        "to": to,
    }
    subject = f"[mediawatch] Spike: {header_text(name)}: {spike.stories} stories"
    key = f"spike|{spike.topic}|{spike.day}|{spike.zone}"
    msg = build_message("spike", context, subject, to, ctx.config.email.from_, key, ctx.now)
    msg["X-Mediawatch-Spike"] = f"{header_text(spike.topic)} {header_text(spike.day)}"
    return msg
