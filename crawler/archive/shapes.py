"""Articles as users see them: the contract's JSON and CSV shapes, with short snippets."""

import csv
import io
from datetime import datetime
from typing import Any

from alerts.rules import RuleSet
from alerts.snippets import snippet
from storage.models import ArticleRow
from storage.search import MARK_END, MARK_START
from storage.versions import Version


def iso(value: datetime | None) -> str | None:
    """ISO 8601, or None."""
    return value.isoformat() if value else None


def article_summary(
    row: ArticleRow, rules: RuleSet, marked_snippet: str | None = None, rank: float | None = None
) -> dict[str, Any]:
    """The contract's search-result object (plus `snippet_marked` and `rank` for the web UI)."""
    topics = sorted({m.topic for m in row.matches})
    if marked_snippet is None:
        marked_snippet = snippet(row.text, rules.highlight_patterns(topics))
    data = {
        "id": row.id,
        "url": row.url,
        "outlet": row.outlet_id,
        "title": row.title,
        "author": row.author,
        "published": iso(row.published),
        "score": row.score,
        "topics": topics,
        "snippet": marked_snippet.replace(MARK_START, "").replace(MARK_END, ""),
    }
    if rank is not None:
        data["rank"] = round(rank, 4)
    return data


def article_detail(
    row: ArticleRow,
    rules: RuleSet,
    duplicates: list[ArticleRow] | None = None,
    versions: list[Version] | None = None,
) -> dict[str, Any]:
    """The contract's `show` object: the summary plus text, term matches and versions."""
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
            # oldest first; one entry (the article as stored) until it is edited
            "versions": [
                {"version": v.version, "seen_at": iso(v.seen_at), "title": v.title}
                for v in versions or []
            ],
        }
    )
    return data


RESULT_FIELDS = [
    "id",
    "url",
    "outlet",
    "title",
    "author",
    "published",
    "score",
    "topics",
    "snippet",
]


# A spreadsheet runs a cell starting with one of these as a formula (=HYPERLINK(...), DDE).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: OWASP's leading single quote before a cell
    that would start a formula (titles, authors and snippets come from strangers' pages)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def results_csv(results: list[dict[str, Any]], bom: bool = False) -> str:
    """Search results as CSV (topics comma-joined); a BOM makes Excel read it as UTF-8."""
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=RESULT_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for r in results:
        row = {**r, "topics": ",".join(r["topics"])}
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return out.getvalue()
