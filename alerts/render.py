"""Alert and digest emails, rendered from Jinja2 templates with autoescape on.

Everything that came from a web page is escaped in HTML and stripped of CR/LF (and every
other control character) before it reaches a header. Rendering is separate from sending.
"""

import email.policy
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import regex
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from alerts.settings import Subscriber

T = TypeVar("T", str, bytes)
# Control characters (C0, C1, line and paragraph separators) and the bidi overrides,
# embeddings and isolates, which would show "gnp.exe" as "exe.png" in a Subject.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
MAX_HEADER_TEXT = 200
MAX_LINE = 998  # RFC 5322 2.1.1: no line of a message longer, CRLF not counted
FOLD_AT = 78  # RFC 5322's recommended width, where a header that must be folded is


class _MailPolicy(EmailPolicy):
    """Header lines that always fit SMTP's 998 characters, whatever the web gave us.

    A header whose whole line fits in 998 printable ASCII characters is written as it is, one
    line: a long URL in `X-Mediawatch-Article-URL` stays one unbroken, greppable line (white
    space added by folding would be kept by some readers). One unbroken token longer than
    that (a 3,000-character URL) cannot be folded at white space, so it is written as RFC 2047
    encoded-words of at most 75 characters on lines of 78, which every mail reader and email
    parser joins back into the exact value. Anything else (a title with words) is folded by
    Python's email package at 998, as before: folded narrower, it can gain a space where a
    line break meets an encoded word. Bodies are unaffected: max_line_length stays 998, so
    a longer body line makes its part quoted-printable.

    Python's email package decodes RFC 2047 encoded-words in any value it is given, so web
    text holding "=?utf-8?q?=0D=0AReply-To:=20x@example.org?=" would become a line break and
    a header of its own, or a body of the page's choosing, in what the reader receives
    (Python before 3.11.10 writes it out: CVE-2024-6923). Every value is stored with its
    "=?" written "= ?": the text it was, on one line (url_header escapes a URL's "=?" first).
    """

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        # Every "=?" is written "= ?": no value of ours is an encoded-word, and web text that
        # looks like one either decoded to a header of its own (above) or, malformed
        # ("=?utf-8?q?=FF?=" beside a non-ASCII character), could not be written at all.
        if isinstance(value, str):
            value = value.replace("=?", "= ?")
        return super().header_store_parse(name, value)

    def fold(self, name: str, value: str) -> str:
        line = self._as_is(name, value)
        return line if line is not None else self._folded(name, value, EmailPolicy.fold)

    def fold_binary(self, name: str, value: str) -> bytes:
        line = self._as_is(name, value)
        if line is not None:
            return line.encode("ascii")
        return self._folded(name, value, EmailPolicy.fold_binary)

    def _as_is(self, name: str, value: str) -> str | None:
        line = f"{name}: {value}"
        if len(line) <= MAX_LINE and line.isascii() and line.isprintable():
            return line + self.linesep
        return None

    def _folded(self, name: str, value: str, fold: Callable[[Any, str, str], T]) -> T:
        """`fold` at 998 for words, at 78 for one token; at 78 whenever 998 would not do."""
        widths = (FOLD_AT,) if len(str(value).split()) <= 1 else (MAX_LINE, FOLD_AT)
        for width in widths:
            policy = email.policy.default.clone(
                max_line_length=width, linesep=self.linesep, utf8=self.utf8, cte_type=self.cte_type
            )
            folded = fold(policy, name, value)
            text = folded.decode("ascii", "replace") if isinstance(folded, bytes) else folded
            if all(len(line) <= MAX_LINE for line in text.split(self.linesep)):
                break
        return folded


_POLICY = _MailPolicy(max_line_length=MAX_LINE)

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


def subscription_zone(subscriptions: Sequence[Subscriber], key: str, default: str = "UTC") -> str:
    """The `timezone` of the subscription whose outbox key is `key`: its emails show times in
    it (`default` when the subscription has left the configuration)."""
    return next((s.timezone for s in subscriptions if s.key == key), default)


def header_text(value: str, limit: int | None = MAX_HEADER_TEXT) -> str:
    """Web text made safe for a header: no CR/LF or control characters, one line, bounded
    (unless `limit` is None: the policy above keeps any length within the line limit)."""
    text = " ".join(_CONTROL.sub(" ", value).split())
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def url_header(url: str) -> str:
    """The `X-Mediawatch-Article-URL` value: the article's URL whole, never shortened (a
    shortened URL would not be the article's); only control characters are taken out, and
    "=?" is written "=%3F", the same URL to the server, so no encoded-word is left in it."""
    return header_text(url, None).replace("=?", "=%3F")


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
    # The URL too: ids start from 1 again in a new database (started over, or moved to
    # PostgreSQL) whose .eml files share the outbox, and mail services drop a Message-ID
    # they have seen.
    key = f"{article.id}|{article.url}"
    msg = build_message("alert", context, subject, to, sender, key, now)
    msg["X-Mediawatch-Article-URL"] = url_header(article.url)
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
