"""`mediawatch rules explain`: extract one page and show how it scores, term by term and query
clause by clause."""

import http.client
import re
import sys
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alerts.assessment import Assessment, assess
from alerts.query import Clause
from alerts.rules import RuleSet
from alerts.scoring import TITLE_WEIGHT, TOPIC_BONUS
from crawler.cli.webfetch import Fetch, network_policy
from crawler.config import Config
from crawler.config.errors import MediawatchError, UsageError
from crawler.extraction.page import Extracted, extract_page, extract_text
from spiders.addresses import NetworkPolicy, RefusedURL
from spiders.encoding import decode_page

MAX_BYTES = 20 * 1024 * 1024


@dataclass
class Explanation:
    """One page's extraction and score, term by term."""

    source: str
    extracted: Extracted
    assessment: Assessment
    # Per topic with a query: each clause, whether it matched, and the words in context.
    queries: dict[str, Clause] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        x, score = self.extracted, self.assessment.score
        return {
            "source": self.source,
            "title": x.title,
            "author": x.author,
            "published": x.published.isoformat() if x.published else None,
            "language": x.language,
            "words": len(x.text.split()),
            "score": score.total,
            "topics": [
                {
                    "topic": t.topic,
                    "weight": t.weight,
                    "title_mentions": t.title_mentions,
                    "body_mentions": t.body_mentions,
                    "score": round(t.score, 4),
                }
                for t in score.topics
            ],
            "multi_topic_bonus": score.bonus,
            "matches": [
                {
                    "topic": m.topic,
                    "term": m.term,
                    "count": m.count,
                    "in_title": m.in_title,
                    "title_count": m.title_count,
                    "text_count": m.text_count,
                }
                for m in self.assessment.matches
            ],
            "queries": [{"topic": t, **c.as_json()} for t, c in self.queries.items()],
        }

    def as_text(self) -> str:
        x, matches, score = self.extracted, self.assessment.matches, self.assessment.score
        lines = [
            f"title:     {x.title or '-'}",
            f"author:    {x.author or '-'}",
            f"published: {x.published.isoformat() if x.published else 'unknown'}",
            f"language:  {x.language or '-'}   words: {len(x.text.split())}",
            "",
        ]
        for topic, clause in self.queries.items():
            lines.append(f"query of {topic}: {'matches' if clause.matched else 'no match'}")
            lines.extend(clause.lines(1))
            lines.append("")
        if not matches:
            lines.append("no topic matches: score 0")
            return "\n".join(lines)
        lines.append(f"{'TOPIC':10} {'TERM':40} {'TITLE':>5} {'BODY':>5}")
        for m in matches:
            lines.append(f"{m.topic:10} {m.term[:40]:40} {m.title_count:>5} {m.text_count:>5}")
        lines.append("")
        for t in score.topics:
            lines.append(
                f"{t.topic:10} {t.weight:g} × (log2(1+{t.body_mentions}) + {TITLE_WEIGHT:g} × "
                f"log2(1+{t.title_mentions})) = {t.score:.3f}"
            )
        total = " + ".join(f"{t.score:.3f}" for t in score.topics)
        if len(score.topics) > 1:
            total = f"({total})"  # the bonus multiplies the whole sum, not its last term
        lines.append(
            f"score = {total} × "
            f"(1 + {TOPIC_BONUS:g} × ({len(score.topics)} - 1)) = {score.total:.3f}"
        )
        return "\n".join(lines)


def read_source(
    source: str, user_agent: str, policy: NetworkPolicy | None = None
) -> tuple[str, str]:
    """(html, url) from a URL, a file or "-" (stdin), decoded by what its bytes are.

    A URL is fetched behind the crawls' network guard (`policy`; none: public hosts only).
    """
    if source.startswith(("http://", "https://")):
        fetch = Fetch(policy or NetworkPolicy())
        try:
            with fetch.open(source, {"User-Agent": user_agent}, timeout=30) as response:
                body = response.read(MAX_BYTES + 1)
                content_type = response.headers.get("Content-Type", "")
                url = response.geturl()
        except RefusedURL as exc:
            raise MediawatchError(f"{source}: refused: {exc}") from None
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
            raise MediawatchError(f"{source}: could not fetch: {exc}") from None
        if len(body) > MAX_BYTES:
            raise MediawatchError(f"{source}: page larger than {MAX_BYTES // 2**20} MB")
    elif source == "-":
        body, content_type, url = sys.stdin.buffer.read(MAX_BYTES), "", "file:///dev/stdin"
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{source}: no such file (give a URL, a file or - for stdin)")
        body, content_type, url = path.read_bytes(), "", path.resolve().as_uri()
    # Decoded as a crawl decodes it, so a page whose charset lies scores the same here.
    return decode_page(body, content_type or None), url


def explain_source(config: Config, source: str) -> Explanation:
    """Extract and score one URL, file or stdin page (or plain text: a .txt, a paste)."""
    html, url = read_source(source, config.crawl.user_agent, network_policy(config))
    if is_plain_text(html, url):
        extracted = extract_text(html)
        if extracted is None:
            raise MediawatchError(f"{source}: the text is empty")
    elif (extracted := extract_page(html, url)) is None:
        raise MediawatchError(f"{source}: no article text found on this page")
    rules = RuleSet(config.topics)
    return Explanation(
        source,
        extracted,
        assess(extracted.title, extracted.text, rules),
        rules.explain_queries(extracted.title, extracted.text),
    )


# Tags that nearly every HTML page has near its start; text pasted from an article has none.
_HTML_TAG = re.compile(
    r"<(?:!doctype|html|head|body|meta|title|div|p|article|main|section|span|a|br|h[1-6])[\s/>]",
    re.IGNORECASE,
)


def is_plain_text(content: str, url: str) -> bool:
    """Whether `content` is text rather than a page: a .txt source, or no HTML tags at all."""
    if urlsplit(url).path.lower().endswith((".txt", ".text")):
        return True
    return _HTML_TAG.search(content[:20_000]) is None
