"""Turn an article page into clean text and metadata. The only module that imports trafilatura.

Runs in worker processes (see crawler.extraction.pool): extraction costs 10-35 ms of CPU per
page and would otherwise stall every download in the crawler's event loop.
"""

import logging
import re
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from hashlib import blake2b
from itertools import islice
from urllib.parse import urlsplit

import py3langid
import trafilatura
from lxml.etree import XPath
from lxml.html import HtmlElement
from trafilatura.deduplication import sample_tokens
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.json_metadata import normalize_authors
from trafilatura.metadata import (
    META_URL,
    examine_meta,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
    find_date,
)
from trafilatura.settings import Document

from crawler.extraction import LIBRARY_LOGGERS
from spiders.dates import parse_date

logger = logging.getLogger(__name__)

# Quiet unless the command line's logging setup (or a worker copying it) says otherwise.
for _name in LIBRARY_LOGGERS:
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.CRITICAL)

# Every byte here is a stranger's: nothing below may take more than linear time in the page.
# The page is parsed once, by lxml through trafilatura's loader, and the title and declared
# dates are read from the tree; the only patterns left run on short, bounded strings.

# Publishers' own declarations of the publication time (the first in the page counts). A page
# with one is not searched further: htmldate's search (which often drops the time of day, and
# on the golden set never found a better day) runs only for pages that declare nothing.
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
_MAX_AUTHOR_CHARS = 120  # trafilatura's limit for a byline
# Run once before real pages so models and parsers are loaded (crawler.extraction.warm).
WARM_UP_PAGE = (
    "<html><head><title>Warm-up</title></head><body><article><h1>Warm-up</h1><p>"
    + "Loading the language model and the parsers before the first real page. " * 4
    + "</p></article></body></html>"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—:·•»]+\s+")
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
# py3langid walks the text byte by byte in Python: a paragraph or two names the language as
# surely as the whole article (the same answers on every golden page) at a fifth of the cost.
_LANGUAGE_SAMPLE_CHARS = 1_000
_SIMHASH_BITS = 64
_COUNT_BITS = 32  # room to count up to 4 billion tokens
_COUNT_MASK = (1 << _COUNT_BITS) - 1


def _has(attribute: str, *parts: str) -> str:
    return " or ".join(f"contains(@{attribute}, '{part}')" for part in parts)


# trafilatura's byline search (metadata.AUTHOR_XPATHS after AUTHOR_DISCARD_XPATHS), its
# re:test() patterns spelt out as contains()/starts-with(): the same elements, found by
# libxml2 alone instead of a Python regex call per element (a fifth of a page's time).
_DISCARDED = (
    "self::*[self::a or self::div or self::section or self::span]["
    "@id='comments' or @class='comments' or @class='title' or @class='date' or "
    "starts-with(@id, 'comments') or "
    + _has("id", "commentlist", "comment-list", "ProductReviews")
    + " or starts-with(@class, 'Comments') or starts-with(@class, 'comments') or "
    + _has(
        "class",
        "commentlist",
        "comments-list",
        "sidebar",
        "is-hidden",
        "quote",
        "embedly-instagram",
        "article-share",
        "article-support",
        "print",
        "category",
        "meta-date",
        "meta-reviewer",
    )
    + " or contains(@data-component, 'Figure')] or self::time or self::figure"
)
# What trafilatura prunes before its byline search, asked of one element: is it in (or is it)
# a pruned part; has it a pruned part inside?
_IN_DISCARDED = XPath(f"boolean(ancestor-or-self::*[{_DISCARDED}])")
_HOLDS_DISCARDED = XPath(f"boolean(descendant::*[{_DISCARDED}])")
_AUTHOR_DISCARD = [XPath(f"descendant::*[{_DISCARDED}]")]
_AUTHOR = [
    XPath(
        "//*[self::a or self::address or self::div or self::link or self::p or self::span or "
        "self::strong][@rel='author' or @id='author' or @class='author' or "
        "@itemprop='author name' or rel='me' or @data-testid='AuthorCard' or "
        "@data-testid='AuthorURL' or "
        + _has("class", "authorname", "author-name", "AuthorName", "authorName")
        + "]|//author"
    ),
    XPath(
        "//*[self::a or self::div or self::h3 or self::h4 or self::p or self::span]["
        "@class='byline' or @class='username' or @class='byl' or @class='BBL' or "
        "contains(@itemprop, 'author') or "
        + _has("id", "author", "zuozhe", "bianji", "xiaobian")
        + " or "
        + _has(
            "class",
            "author",
            "channel-name",
            "zuozhe",
            "bianji",
            "xiaobian",
            "submitted-by",
            "posted-by",
            "journalist-name",
        )
        + "]"
    ),
    XPath(
        "//*[contains(@data-component, 'Byline') or contains(@itemprop, 'author') or "
        + _has("id", "Author", "author")
        + " or "
        + _has("class", "Author", "author", "screenname", "writer", "Byline", "byline")
        + "]"
    ),
]


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
    # Metadata is read here rather than by bare_extraction(with_metadata=True), which also
    # collects categories, tags, the licence and a description nobody reads, and runs
    # htmldate's date search even when the page has declared its date.
    meta = _metadata(tree, url, search_date=declared is None)
    doc = trafilatura.bare_extraction(
        tree,  # it extracts from a copy: the tree stays whole for the byline below
        url=url,
        with_metadata=False,
        include_comments=False,
        include_tables=False,
        deduplicate=False,  # its cache empties pages after a few identical extractions
    )
    if doc is None or isinstance(doc, dict):
        return None
    text = (doc.text or "").strip()
    if len(text) < MIN_TEXT_CHARS:
        return None  # a menu, a paywall stub or an error page, not an article
    if not meta.author:
        meta.author = _byline(tree)
    meta.clean_and_trim()
    site_name = meta.sitename or None
    title = clean_title(
        meta.title or "", (*site_names, site_name or "", urlsplit(url).hostname or ""), headline
    )
    # The page's own declaration stands; htmldate's inference only fills in for pages without.
    published = declared or parse_date(meta.date)
    return Extracted(
        title=readable_title(title),
        author=readable_title(meta.author or "") or None,
        published=published,
        date_declared=declared is not None,
        text=_drop_leading_title(text, title),
        language=detect_language(text),
        site_name=readable_title(site_name or "") or None,
        canonical_url=meta.url if meta.url and meta.url != url else None,
        simhash=fingerprint(text),
    )


def _metadata(tree: HtmlElement, url: str, search_date: bool) -> Document:
    """Title, author (when <meta> or JSON-LD name one), site name, canonical URL and, when
    `search_date`, htmldate's date: trafilatura's extract_metadata without the fields this
    project never reads. Not yet trimmed (Document.clean_and_trim)."""
    meta = examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None  # as trafilatura: a one-word "author" is a handle or a section
    try:
        meta = extract_meta_json(tree, meta)
    except Exception:  # trafilatura's JSON-LD reader has bugs of its own; the <meta> stand
        logger.debug("JSON-LD metadata of %s could not be read", url, exc_info=True)
    meta.title = meta.title or extract_title(tree)
    meta.url = meta.url or extract_url(tree, url)
    if search_date:
        meta.date = find_date(
            tree,
            extensive_search=False,
            original_date=True,
            outputformat=_DATE_FORMAT,
            url=meta.url,
            max_date=datetime.now(UTC).strftime("%Y-%m-%d"),
        )
    meta.sitename = meta.sitename or extract_sitename(tree)
    if meta.sitename:
        meta.sitename = meta.sitename.lstrip("@")
        if meta.sitename and "." not in meta.sitename and not meta.sitename[0].isupper():
            meta.sitename = meta.sitename.title()
    elif meta.url and (host := META_URL.match(meta.url)):
        meta.sitename = host[1]
    return meta


def _byline(tree: HtmlElement) -> str | None:
    """The author named in the page's byline: trafilatura's extract_author, which prunes
    comments, sidebars, dates and figures from a copy of the page and then takes the first
    element its byline patterns find whose text is a name's length. Here the patterns run on
    the page as it is and each element found is checked instead: one inside a pruned part is
    passed over, and only one holding a pruned part is copied and pruned (the same text, with
    a pruned part's tail kept as trafilatura keeps it)."""
    for expression in _AUTHOR:
        for found in expression(tree):
            if _IN_DISCARDED(found):
                continue
            if _HOLDS_DISCARDED(found):
                found = prune_unwanted_nodes(deepcopy(found), _AUTHOR_DISCARD)
            if author := _short_text(found, _MAX_AUTHOR_CHARS):
                return normalize_authors(None, author)
    return None


def _short_text(element: HtmlElement, limit: int) -> str | None:
    """The element's text on one line (as trafilatura's trim(" ".join(itertext()))) when it
    is 3 to `limit` - 1 characters long, else None; reading stops once it is too long."""
    words: list[str] = []
    size = -1  # the spaces between words
    for part in element.itertext():
        more = part.split()
        words += more
        size += len(more) + sum(map(len, more))
        if size >= limit:
            return None
    return " ".join(words) if size > 2 else None


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
    code, _ = py3langid.classify(text[:_LANGUAGE_SAMPLE_CHARS])
    return str(code) if code else None


def fingerprint(text: str) -> int:
    """64-bit SimHash of the text: near-duplicates differ in few bits.

    trafilatura's Simhash (the same tokens, token hashes and result), with the tokens' bits
    counted in one integer holding a 32-bit count per bit of the hash: one addition per token
    instead of 64.
    """
    tokens = sample_tokens(text, _SIMHASH_BITS)
    ones = sum(map(_bit_counts, tokens))
    # bit i is set when at least half the tokens' hashes have it (trafilatura: vector[i] >= 0)
    return sum(
        1 << i
        for i in range(_SIMHASH_BITS)
        if 2 * ((ones >> (_COUNT_BITS * i)) & _COUNT_MASK) >= len(tokens)
    )


@lru_cache(maxsize=2**14)
def _bit_counts(token: str) -> int:
    """The token's hash (trafilatura's: BLAKE2b, 8 bytes) spread out, one count per bit."""
    digest = int.from_bytes(blake2b(token.encode(), digest_size=8).digest(), "big")
    return sum(1 << (_COUNT_BITS * i) for i in range(_SIMHASH_BITS) if digest >> i & 1)
