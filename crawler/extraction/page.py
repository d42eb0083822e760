"""Turn an article page into clean text and metadata. The only module that imports trafilatura.

Runs in worker processes (see crawler.extraction.pool): extraction costs 10-35 ms of CPU per
page and would otherwise stall every download in the crawler's event loop.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from urllib.parse import urlsplit

import py3langid
import trafilatura
from trafilatura.deduplication import Simhash

from spiders.dates import parse_date

logging.getLogger("trafilatura").setLevel(logging.ERROR)
logging.getLogger("htmldate").setLevel(logging.ERROR)

# Publishers' own declarations of the publication time. htmldate finds the right day far
# more often than these tags alone, but often drops the time of day; these supply it.
_DECLARED_DATE = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"<meta[^>]+(?:property|name|itemprop)=[\"'](?:article:published_time|og:published_time|"
        r"datePublished|pubdate|publish-date|sailthru\.date|parsely-pub-date)[\"'][^>]*?"
        r"content=[\"']([^\"']+)[\"']",
        r"<meta[^>]+content=[\"']([^\"']+)[\"'][^>]*(?:property|name|itemprop)=[\"']"
        r"(?:article:published_time|og:published_time|datePublished)[\"']",
        r"\"datePublished\"\s*:\s*\"([^\"]+)\"",
    )
]
MIN_TEXT_CHARS = 150
_H1 = re.compile(r"<h1\b[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—:·•»]+\s+")
_DATE_PARAMS = {
    "original_date": True,
    "extensive_search": False,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}


@dataclass(frozen=True)
class Extracted:
    """What one page says about itself."""

    title: str
    author: str | None
    published: datetime | None
    text: str
    language: str | None
    site_name: str | None
    canonical_url: str | None
    simhash: int
    date_declared: bool = False  # the page states its date in metadata (not inferred)


def extract_page(html: str, url: str, site_names: tuple[str, ...] = ()) -> Extracted | None:
    """Extract an article; None when the page holds no article text."""
    doc = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        deduplicate=False,  # its cache empties pages after a few identical extractions
        date_extraction_params={**_DATE_PARAMS, "max_date": datetime.now(UTC).strftime("%Y-%m-%d")},
    )
    if doc is None or isinstance(doc, dict):
        return None
    text = (doc.text or "").strip()
    if len(text) < MIN_TEXT_CHARS:
        return None  # a menu, a paywall stub or an error page, not an article
    site_name = doc.sitename or None
    title = clean_title(
        doc.title or "",
        (*site_names, site_name or "", urlsplit(url).hostname or ""),
        first_h1(html),
    )
    published, declared = _published(html, parse_date(doc.date))
    return Extracted(
        title=title,
        author=doc.author or None,
        published=published,
        date_declared=declared,
        text=_drop_leading_title(text, title),
        language=detect_language(text),
        site_name=site_name,
        canonical_url=doc.url if doc.url and doc.url != url else None,
        simhash=fingerprint(text),
    )


def _published(html: str, found: datetime | None) -> tuple[datetime | None, bool]:
    """(date, declared): htmldate's date, with the time of day from the page's own
    declaration when they agree; declared is False when the date was only inferred."""
    head = html[:300_000]
    for pattern in _DECLARED_DATE:
        if (m := pattern.search(head)) and (declared := parse_date(m.group(1))):
            if found is None or declared.date() == found.date() or _is_midnight(found):
                return declared, True
            return found, True
    return found, False


def _is_midnight(value: datetime) -> bool:
    return (value.hour, value.minute, value.second) == (0, 0, 0)


def _drop_leading_title(text: str, title: str) -> str:
    """trafilatura keeps the <h1> as the first line; it is the title, not the body."""
    first, _, rest = text.partition("\n")
    if title and rest and " ".join(first.split()).lower() == title.lower():
        return rest.lstrip()
    return text


def clean_title(title: str, site_names: tuple[str, ...], headline: str = "") -> str:
    """The headline without the " | Dawn", " - Times of India" or " | Bhopal News" that pages
    add to their <title>; the page's own <h1> wins when the <title> merely wraps it."""
    title = " ".join(title.split())
    headline = " ".join(headline.split())
    if len(headline) >= 15 and _squash(headline) in _squash(title):
        return headline
    names = [_squash(n.removeprefix("www.")) for n in site_names if n]
    names = [n for n in names if len(n) >= 3]
    while (seps := list(_TITLE_SEPARATORS.finditer(title))) and _is_site(
        title[seps[-1].end() :], names
    ):
        title = title[: seps[-1].start()]
    while (seps := list(_TITLE_SEPARATORS.finditer(title))) and _is_site(
        title[: seps[0].start()], names
    ):
        title = title[seps[0].end() :]
    return title


def first_h1(html: str) -> str:
    """Text of the page's first <h1>, tags removed."""
    m = _H1.search(html)
    return unescape(_TAGS.sub(" ", m.group(1))) if m else ""


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def _is_site(part: str, names: list[str]) -> bool:
    squashed = _squash(part)
    if not squashed:
        return True
    words = part.split()
    if len(words) <= 4 and words[-1].lower() in ("news", "online", "epaper", "e-paper"):
        return True  # a section or edition name: " | Bhopal News"
    for name in names:
        stem = name.split(".")[0] if "." in name else name
        if squashed in (name, stem) or squashed.removeprefix("the") in (name, stem):
            return True
        if len(squashed) >= 4 and (name.startswith(squashed) or squashed in name):
            return True
    return False


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language (trafilatura only sets it when filtering)."""
    code, _ = py3langid.classify(text[:5000])
    return str(code) if code else None


def fingerprint(text: str) -> int:
    """64-bit SimHash of the text: near-duplicates differ in few bits."""
    return Simhash(text).hash
