"""Alert and digest emails, rendered from Jinja2 templates with autoescape on.

Everything that came from a web page is escaped in HTML and stripped of CR/LF (and every
other control character) before it reaches a header. Rendering is separate from sending.
"""

import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import regex
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

# Long header lines are allowed (RFC 5322 permits 998 characters): folding a URL header
# would add white space that some readers keep.
_POLICY = email.policy.default.clone(max_line_length=998)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")
MAX_HEADER_TEXT = 200

_env = Environment(
    loader=PackageLoader("alerts", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def local_time(when: datetime, zone: str, named: bool = True) -> str:
    """`when` in the subscriber's zone, the zone named: "2026-11-26 19:30 Asia/Karachi" (without
    the name when `named` is false). A stored time without a zone is UTC."""
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    shown = f"{aware.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}"
    return f"{shown} {zone}" if named else shown


def local_date(when: datetime, zone: str) -> str:
    """The day `when` falls on in the subscriber's zone ("2026-11-26")."""
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return f"{aware.astimezone(ZoneInfo(zone)):%Y-%m-%d}"


_env.filters["local_time"] = local_time
_env.filters["local_date"] = local_date


def header_text(value: str, limit: int = MAX_HEADER_TEXT) -> str:
    """Web text made safe for a header: no CR/LF or control characters, one line, bounded."""
    text = " ".join(_CONTROL.sub(" ", value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_link(url: str) -> str | None:
    """Only http(s) URLs become links; anything else (javascript:...) is shown as text."""
    return url if re.match(r"^https?://", url, re.IGNORECASE) else None


def highlight(text: str, patterns: list["regex.Pattern[str]"]) -> Markup:
    """HTML with each match in <mark>, every other character escaped."""
    spans: list[tuple[int, int]] = []
    for p in patterns:
        spans.extend(m.span() for m in p.finditer(text))
    spans.sort()
    out, pos = [], 0
    for start, end in spans:
        if start < pos:
            continue
        out.append(str(escape(text[pos:start])))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


@dataclass
class EmailArticle:
    """What an email shows of one article (or one story with several copies)."""

    id: int
    title: str
    url: str
    outlet: str
    author: str | None
    published: datetime | None
    score: float
    topics: list[str]
    terms: list[tuple[str, str, int, bool]]  # topic, term, count, in title
    snippet: str
    also_in: list[tuple[str, str]] = field(default_factory=list)  # (outlet, url)


def message_id(kind: str, key: str, domain: str) -> str:
    """A Message-ID that is the same whenever the same email is rendered again."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"<mediawatch.{kind}.{digest}@{domain}>"


def _domain(sender: str) -> str:
    domain = sender.rpartition("@")[2]
    return re.sub(r"[^A-Za-z0-9.-]", "", domain) or "mediawatch.invalid"


def build_message(
    template: str,
    context: dict[str, Any],
    subject: str,
    to: str,
    sender: str,
    key: str,
    now: datetime,
) -> EmailMessage:
    """Both parts of `template` (.txt and .html), and the headers every email has. `key`
    makes the Message-ID: the same email for the same recipient always gets the same one."""
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = header_text(sender)
    msg["To"] = header_text(to)
    msg["Subject"] = header_text(subject, 250)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(template, f"{key}|{to.lower()}", _domain(sender))
    msg.set_content(_env.get_template(f"{template}.txt").render(context))
    msg.add_alternative(_env.get_template(f"{template}.html").render(context), subtype="html")
    return msg


def render_alert(
    article: EmailArticle,
    to: str,
    sender: str,
    topic_names: dict[str, str],
    patterns: list["regex.Pattern[str]"],
    now: datetime,
    timezone: str = "UTC",
) -> EmailMessage:
    """The immediate alert for one article and one subscriber, its times in `timezone`."""
    names = ", ".join(topic_names.get(t, t) for t in article.topics)
    context: dict[str, Any] = {
        "zone": timezone,
        "a": article,
        "link": safe_link(article.url),
        "topic_names": topic_names,
        "snippet_html": highlight(article.snippet, patterns),
        "to": to,
    }
    subject = f"[mediawatch] {names}: {header_text(article.title)}"
    msg = build_message("alert", context, subject, to, sender, str(article.id), now)
    msg["X-Mediawatch-Article-URL"] = header_text(article.url, 2000)
    msg["X-Mediawatch-Topics"] = ",".join(header_text(t) for t in article.topics)
    return msg


def render_digest(
    groups: list[tuple[str, list[EmailArticle]]],
    period: str,
    to: str,
    sender: str,
    topic_names: dict[str, str],
    patterns: list["regex.Pattern[str]"],
    now: datetime,
    start: datetime,
    end: datetime,
    timezone: str = "UTC",
) -> EmailMessage:
    """The digest email: entries grouped by topic, best first; its period and dates in the
    subscriber's `timezone`, named."""
    count = sum(len(items) for _, items in groups)
    context: dict[str, Any] = {
        "zone": timezone,
        "groups": groups,
        "count": count,
        "period": period,
        "start": start,
        "end": end,
        "topic_names": topic_names,
        "highlight": lambda text: highlight(text, patterns),
        "safe_link": safe_link,
        "to": to,
    }
    # The contract's exact form, "1 articles" included: filters and scripts match on it.
    subject = f"[mediawatch] Digest {period}: {count} articles"
    # One Message-ID per (subscription, period start, period end): two digests of one day
    # (a cron schedule, `digest --since`) are different emails, and a digest sent again after
    # a failure is the same one.
    key = f"{period}|{start.astimezone(UTC).isoformat()}|{end.astimezone(UTC).isoformat()}"
    msg = build_message("digest", context, subject, to, sender, key, now)
    msg["X-Mediawatch-Digest"] = header_text(period)
    return msg
