"""The edit alert email: an article the subscriber was alerted to has a new version.

`Subject: [mediawatch] Edited: <title>`, `X-Mediawatch-Article-URL` and
`X-Mediawatch-Version: <n>` (the contract's shape); the body gives the old and new headline
when it changed and the changed passages of the text, word by word (alerts.wordiff), every
piece of page text escaped in the HTML part by the templates' autoescape; the time the new
version was seen is shown in the subscription's `timezone`, as every email's times are.
"""

from email.message import EmailMessage
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.compose import email_article
from alerts.mailcontext import RenderContext
from alerts.render import build_message, header_text, safe_link, subscription_zone, url_header
from alerts.wordiff import passages, word_diff
from storage.models import AlertRow, ArticleRow, ArticleVersionRow


def render_edit_alert(
    session: Session, alert: AlertRow, to: str, ctx: RenderContext
) -> EmailMessage | None:
    """The email for one edit alert; None when the article or its versions are gone."""
    article = session.get(ArticleRow, alert.article_id) if alert.article_id else None
    if article is None or alert.version < 2:
        return None
    rows = {
        r.version: r
        for r in session.scalars(
            select(ArticleVersionRow).where(
                ArticleVersionRow.article_id == article.id,
                ArticleVersionRow.version.in_([alert.version - 1, alert.version]),
            )
        )
    }
    old, new = rows.get(alert.version - 1), rows.get(alert.version)
    if old is None or new is None:
        return None
    summary = email_article(article, ctx.rules, ctx.outlet_names)
    context: dict[str, Any] = {
        "a": summary,
        "link": safe_link(article.url),
        "version": alert.version,
        "old_title": old.title if old.title.split() != new.title.split() else None,
        "title": new.title or article.url,
        "seen_at": new.seen_at,
        "zone": subscription_zone(ctx.config.subscriptions, alert.subscription),
        "passages": passages(word_diff(old.text, new.text)),
        "to": to,
    }
    subject = f"[mediawatch] Edited: {header_text(new.title or article.url)}"
    msg = build_message(
        "edit",
        context,
        subject,
        to,
        ctx.config.email.from_,
        f"{article.id}:{alert.version}|{article.url}",  # the URL: as render_alert's key
        ctx.now,
    )
    msg["X-Mediawatch-Article-URL"] = url_header(article.url)
    msg["X-Mediawatch-Version"] = str(alert.version)
    return msg
