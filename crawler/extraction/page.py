"""Turn an article page into clean text and metadata. The only module that imports trafilatura.

Runs in worker processes (see crawler.extraction.pool): extraction costs 10-35 ms of CPU per
page and would otherwise stall every download in the crawler's event loop.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from urllib.parse import urlsplit

import py3langid
import trafilatura
from lxml.html import HtmlElement
from trafilatura.deduplication import Simhash

from crawler.extraction import LIBRARY_LOGGERS
from spiders.dates import parse_date

# Quiet unless the command line's logging setup (or a worker copying it) says otherwise.
for _name in LIBRARY_LOGGERS:
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.CRITICAL)

# Every byte here is a stranger's: nothing below may take more than linear time in the page.
# The page is parsed once, by lxml through trafilatura's loader, and the title and declared
# dates are read from the tree; the only patterns left run on short, bounded strings.

# Publishers' own declarations of the publication time (the first in the page counts).
# htmldate finds the right day far more often than these tags alone, but often drops the
# time of day; these supply it.
_DECLARED_NAMES = frozenset(
    {
        "article:published_time",
        "og:published_time",
        "datepublished",
        "pubdate",
        "publish-date",
        "sailthru.date",
        "parsely-pub-date",
    }
)
_JSON_LD_DATE = re.compile(r"\"datePublished\"\s{0,20}:\s{0,20}\"([^\"]{1,64})\"")
_MAX_META = 2_000  # a real page has dozens of <meta>; a hostile one, millions
_MAX_JSON_LD_CHARS = 1_000_000
MIN_TEXT_CHARS = 150
# A headline people can read in a list or a Subject line; the longest real ones are ~200.
MAX_TITLE_CHARS = 300
_MAX_RAW_TITLE_CHARS = 2_000  # before site names are trimmed: enough for any real <title>
_MAX_TEXT_TITLE_CHARS = 200  # a plain-text file's first line longer than this is a paragraph
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
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
    tree = parse_html(html)
    if tree is None:
        return None
    headline, declared = first_h1(tree), declared_date(tree)  # read before trafilatura prunes
    doc = trafilatura.bare_extraction(
        tree,
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
        doc.title or "", (*site_names, site_name or "", urlsplit(url).hostname or ""), headline
    )
    published, is_declared = _published(declared, parse_date(doc.date))
    return Extracted(
        title=readable_title(title),
        author=readable_title(doc.author or "") or None,
        published=published,
        date_declared=is_declared,
        text=_drop_leading_title(text, title),
        language=detect_language(text),
        site_name=readable_title(site_name or "") or None,
        canonical_url=doc.url if doc.url and doc.url != url else None,
        simhash=fingerprint(text),
    )


def extract_text(text: str) -> Extracted | None:
    """An article from plain text (a .txt file, a paste): the first line is its title when it
    reads like one (short, not ending a sentence, more text after it); None when empty."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n")).strip()
    first, _, rest = text.partition("\n")
    title = " ".join(first.split())
    if rest.strip() and 0 < len(title) <= _MAX_TEXT_TITLE_CHARS and title[-1] not in ".!?;,":
        text = rest.strip()
    else:
        title = ""
    if not text:
        return None
    return Extracted(
        title=readable_title(title),
        author=None,
        published=None,
        text=text,
        language=detect_language(text),
        site_name=None,
        canonical_url=None,
        simhash=fingerprint(text),
    )


def parse_html(html: str) -> HtmlElement | None:
    """The page as one lxml tree (None when it is not HTML at all), parsed in linear time."""
    start = html.lstrip()
    if start[:9].lower() == "<!doctype":
        # trafilatura strips a DOCTYPE with a pattern that is quadratic on a long first line;
        # an HTML parser needs none, and one with an internal subset may declare entities.
        end = start.find(">")
        html = start[end + 1 :] if end >= 0 else ""
    return trafilatura.load_html(html)


def declared_date(tree: HtmlElement) -> datetime | None:
    """The publication time the page states in its <meta> tags or JSON-LD, if any."""
    for meta in islice(tree.iter("meta"), _MAX_META):
        names = (meta.get(a) for a in ("property", "name", "itemprop"))
        if any(n and n.strip().lower() in _DECLARED_NAMES for n in names) and (
            found := parse_date((meta.get("content") or "")[:64])
        ):
            return found
    budget = _MAX_JSON_LD_CHARS
    for script in tree.iter("script"):
        code = (script.text or "")[:budget]
        budget -= len(code)
        if (m := _JSON_LD_DATE.search(code)) and (found := parse_date(m.group(1))):
            return found
        if budget <= 0:
            break
    return None


def _published(declared: datetime | None, found: datetime | None) -> tuple[datetime | None, bool]:
    """(date, declared): htmldate's date, with the time of day from the page's own
    declaration when they agree; declared is False when the date was only inferred."""
    if declared is None:
        return found, False
    if found is None or declared.date() == found.date() or _is_midnight(found):
        return declared, True
    return found, True


def _is_midnight(value: datetime) -> bool:
    return (value.hour, value.minute, value.second) == (0, 0, 0)


def _drop_leading_title(text: str, title: str) -> str:
    """trafilatura keeps the <h1> as the first line; it is the title, not the body."""
    first, _, rest = text.partition("\n")
    if title and rest and " ".join(first.split()).lower() == title.lower():
        return rest.lstrip()
    return text


def readable_title(title: str, limit: int = MAX_TITLE_CHARS) -> str:
    """The title on one line, without control characters, and at most `limit` characters: cut
    at a word boundary with an ellipsis, so lists, Subject lines and the archive stay readable."""
    title = " ".join(_CONTROL.sub("", title[: limit * 4]).split())
    if len(title) <= limit:
        return title
    cut = title[: limit - 1]
    if title[limit - 1] != " " and (space := cut.rfind(" ")) >= limit // 2:
        cut = cut[:space]  # not inside a word, unless the word is half the title
    return cut.rstrip(" ,;:|-–—") + "…"


def clean_title(title: str, site_names: tuple[str, ...], headline: str = "") -> str:
    """The headline without the " | Dawn", " - Times of India" or " | Bhopal News" that pages
    add to their <title>; the page's own <h1> wins when the <title> merely wraps it."""
    # Bounded first: each trimmed separator below rescans the title.
    title = " ".join(title[:_MAX_RAW_TITLE_CHARS].split())
    headline = " ".join(headline[:_MAX_RAW_TITLE_CHARS].split())
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


def first_h1(tree: HtmlElement) -> str:
    """Text of the page's first <h1>, tags read as spaces."""
    h1 = next(tree.iter("h1"), None)
    if h1 is None:
        return ""
    parts, size = [], 0
    for part in h1.itertext():
        parts.append(part)
        size += len(part)
        if size > _MAX_RAW_TITLE_CHARS:
            break
    return " ".join(" ".join(parts).split())


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
