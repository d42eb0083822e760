"""Articles as users see them: the JSON shapes of the contract and short snippets."""

from datetime import datetime
from typing import Any

import regex

from alerts.rules import RuleSet, normalise
from alerts.snippets import snippet


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def query_patterns(query: str | None) -> list["regex.Pattern[str]"]:
    """Patterns for the plain words of a search query, to centre snippets on."""
    if not query:
        return []
    words = [w.strip('"()') for w in query.split()]
    words = [
        w for w in words if w and not w.startswith("-") and w.upper() not in ("OR", "AND", "NOT")
    ]
    return [
        regex.compile(rf"(?<!\w){regex.escape(normalise(w))}(?!\w)", regex.IGNORECASE)
        for w in words
    ]


def article_summary(row: Any, rules: RuleSet, query: str | None = None) -> dict[str, Any]:
    """The contract's search-result object."""
    topics = sorted({m.topic for m in row.matches})
    patterns = query_patterns(query) + rules.highlight_patterns(topics)
    return {
        "id": row.id,
        "url": row.url,
        "outlet": row.outlet_id,
        "title": row.title,
        "author": row.author,
        "published": iso(row.published),
        "score": row.score,
        "topics": topics,
        "snippet": snippet(row.text, patterns),
    }


def article_detail(row: Any, rules: RuleSet, duplicates: list[Any] | None = None) -> dict[str, Any]:
    """The contract's `show` object: the summary plus text and term matches."""
    data = article_summary(row, rules)
    data.update(
        {
            "text": row.text,
            "matches": [
                {
                    "topic": m.topic,
                    "term": m.term,
                    "count": m.title_count + m.text_count,
                    "in_title": m.title_count > 0,
                }
                for m in sorted(
                    row.matches, key=lambda m: (m.topic, -(m.title_count + m.text_count))
                )
            ],
            "language": row.language,
            "date_source": row.date_source,
            "first_seen": iso(row.first_seen),
            "duplicate_of": row.duplicate_of_id,
            "duplicates": [
                {"id": d.id, "url": d.url, "outlet": d.outlet_id} for d in duplicates or []
            ],
        }
    )
    return data
