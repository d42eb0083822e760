"""Turn an article page into clean text and metadata. The only module that imports trafilatura.

Runs in worker processes (see crawler.extraction.pool): extraction costs 10-35 ms of CPU per
page and would otherwise stall every download in the crawler's event loop.
"""

import json
import logging
import re
from copy import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from hashlib import blake2b
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

import py3langid
from lxml.etree import (
    Element,
    ElementDefaultClassLookup,
    ElementNamespaceClassLookup,
    XPath,
    strip_tags,
)
from lxml.html import (
    HtmlComment,
    HtmlElement,
    HtmlElementClassLookup,
    HtmlEntity,
    HtmlProcessingInstruction,
    fromstring,
)
from trafilatura.baseline import _spaced_text, baseline, basic_cleaning
from trafilatura.core import (
    ESCALATION_ACCEPT_RATIO,
    ESCALATION_JUSTEXT_RATIO,
    ESCALATION_MAX_LENGTH,
    ESCALATION_PAGE_SHARE,
    _forum_thread_page,
    _prepare_tree,
    _recall_retry,
)
from trafilatura.deduplication import sample_tokens
from trafilatura.external import compare_extraction, justext_rescue
from trafilatura.json_metadata import (
    extract_json,
    extract_json_parse_error,
    normalize_authors,
    normalize_json,
)
from trafilatura.main_extractor import extract_content
from trafilatura.metadata import (
    JSON_MINIFY,
    META_URL,
    examine_meta,
    extract_sitename,
    extract_title,
    extract_url,
    find_date,
)
from trafilatura.settings import BASIC_CLEAN_XPATH, Document, Extractor
from trafilatura.utils import (
    HTML_PARSER,
    INVALID_XML_CHARS,
    is_dubious_html,
    repair_faulty_html,
)
from trafilatura.xml import delete_element, xmltotxt
from trafilatura.xpaths import RAW_TREE_PRUNE_XPATH, REMOVE_COMMENTS_AND_LISTS_XPATH

from crawler.extraction import LIBRARY_LOGGERS
from spiders.dates import parse_date

logger = logging.getLogger(__name__)

# Quiet unless the command line's logging setup (or a worker copying it) says otherwise.
for _name in LIBRARY_LOGGERS:
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.CRITICAL)

# Every byte here is a stranger's: nothing below may take more than linear time in the page.
# The page is parsed once (twice in the rare case trafilatura tries a second time, see
# _sequence), by lxml through (a copy of) trafilatura's loader, and the title and declared
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
# In a title also C1 controls (U+009B starts a terminal escape) and the bidi overrides,
# embeddings and isolates ("\u202egnp.exe" shows as "exe.png"), as authors lose them.
_TITLE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What trafilatura's DOCTYPE pattern (utils.DOCTYPE_TAG) starts with.
_DOCTYPE = re.compile(r"< ?! ?doctype", re.IGNORECASE)
_NOT_SPACE = re.compile(r"\S")
_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—:·•»]+\s+")
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
# py3langid walks the text byte by byte in Python: a paragraph or two names the language as
# surely as the whole article (the same answers on every golden page) at a fifth of the cost.
_LANGUAGE_SAMPLE_CHARS = 1_000
_SIMHASH_BITS = 64
_COUNT_BITS = 32  # room to count up to 4 billion tokens
_COUNT_MASK = (1 << _COUNT_BITS) - 1


# What trafilatura prunes before its byline search (metadata.AUTHOR_DISCARD_XPATHS), its
# re:test() patterns spelt out for _discarded, asked of each element in Python: libxml2 takes
# ~0.1 ms to set up each such question, and a page with comments has hundreds of bylines.
_DISCARDED_TAGS = frozenset({"a", "div", "section", "span"})
_DISCARDED_CLASSES = frozenset({"comments", "title", "date"})
_DISCARDED_ID_PARTS = ("commentlist", "comment-list", "ProductReviews")
_DISCARDED_CLASS_PARTS = (
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
# trafilatura's three byline expressions (metadata.AUTHOR_XPATHS), spelt out in Python and
# answered in one walk over the page: libxml2 takes ~15 contains() tests per element for each
# expression, three times over, where one look at an element's few attributes does.
_BYLINE_TAGS = (
    frozenset({"a", "address", "div", "link", "p", "span", "strong"}),
    frozenset({"a", "div", "h3", "h4", "p", "span"}),
)
_FIRST_CLASS_PARTS = ("authorname", "author-name", "AuthorName", "authorName")
_SECOND_CLASSES = frozenset({"byline", "username", "byl", "BBL"})
_SECOND_ID_PARTS = ("author", "zuozhe", "bianji", "xiaobian")
_SECOND_CLASS_PARTS = (
    "author",
    "channel-name",
    "zuozhe",
    "bianji",
    "xiaobian",
    "submitted-by",
    "posted-by",
    "journalist-name",
)
_THIRD_ID_PARTS = ("Author", "author")
_THIRD_CLASS_PARTS = ("Author", "author", "screenname", "writer", "Byline", "byline")
# Whatever could satisfy any of the three: most elements are passed over on this alone.
_BYLINE_HINT = re.compile(
    "uthor|yline|byl|BBL|username|screenname|writer|zuozhe|bianji|xiaobian|channel-name|"
    "submitted-by|posted-by|journalist-name"
)


def _discarded(element: HtmlElement) -> bool:
    """Whether trafilatura prunes this element before its byline search."""
    tag = element.tag
    if tag in ("time", "figure"):
        return True
    if tag not in _DISCARDED_TAGS:
        return False
    ident, cls = element.get("id") or "", element.get("class") or ""
    return (
        ident.startswith("comments")  # with @id='comments'
        or cls in _DISCARDED_CLASSES
        or any(part in ident for part in _DISCARDED_ID_PARTS)
        or cls.startswith(("Comments", "comments"))
        or any(part in cls for part in _DISCARDED_CLASS_PARTS)
        or "Figure" in (element.get("data-component") or "")
    )


def _in_discarded(element: HtmlElement, known: dict[HtmlElement, bool]) -> bool:
    """Whether the element is, or is inside, one trafilatura prunes; `known` remembers the
    answers for ancestors, which the candidates of one page share."""
    path = []
    node: HtmlElement | None = element
    while node is not None and node not in known:
        path.append(node)
        node = node.getparent()
    inside = known[node] if node is not None else False
    for node in reversed(path):
        inside = known[node] = inside or _discarded(node)
    return inside


def _byline_candidates(tree: HtmlElement) -> tuple[list[HtmlElement], ...]:
    """What each of trafilatura's byline expressions selects, in document order."""
    root = tree.getroottree().getroot()
    # the first expression's `rel='me'` compares a child <rel> element's text, not @rel
    rel_me = {r.getparent() for r in root.iter("rel") if r.xpath("string()") == "me"}
    first: list[HtmlElement] = []
    second: list[HtmlElement] = []
    third: list[HtmlElement] = []
    for element in root.iter(Element):
        get = element.get
        cls, ident, prop = get("class") or "", get("id") or "", get("itemprop") or ""
        rel, testid, component = get("rel"), get("data-testid"), get("data-component") or ""
        tag = element.tag
        if not (
            _BYLINE_HINT.search(cls)
            or _BYLINE_HINT.search(ident)
            or prop
            or rel
            or testid
            or component
            or tag == "author"
            or element in rel_me
        ):
            continue
        if tag == "author" or (
            tag in _BYLINE_TAGS[0]
            and (
                rel == "author"
                or ident == "author"
                or cls == "author"
                or prop == "author name"
                or element in rel_me
                or testid in ("AuthorCard", "AuthorURL")
                or any(part in cls for part in _FIRST_CLASS_PARTS)
            )
        ):
            first.append(element)
        if tag in _BYLINE_TAGS[1] and (
            cls in _SECOND_CLASSES
            or "author" in prop
            or any(part in ident for part in _SECOND_ID_PARTS)
            or any(part in cls for part in _SECOND_CLASS_PARTS)
        ):
            second.append(element)
        if (
            "Byline" in component
            or "author" in prop
            or any(part in ident for part in _THIRD_ID_PARTS)
            or any(part in cls for part in _THIRD_CLASS_PARTS)
        ):
            third.append(element)
    return first, second, third


# trafilatura's parser (utils.HTML_PARSER) with lxml.html's classes for the elements (a <form> is
# a FormElement...) chosen by libxml2's side of lxml rather than by a Python method called for
# each element the extraction touches (lxml.html's HtmlElementClassLookup.lookup).
_PARSER = HTML_PARSER.copy()
_CLASSES = ElementNamespaceClassLookup(
    ElementDefaultClassLookup(
        element=HtmlElement,
        comment=HtmlComment,
        pi=HtmlProcessingInstruction,
        entity=HtmlEntity,
    )
)
_CLASSES.get_namespace(None).update(HtmlElementClassLookup._default_element_classes)
_PARSER.set_element_class_lookup(_CLASSES)
_JSON_LD = XPath('.//script[@type="application/ld+json" or @type="application/settings+json"]')
# bare_extraction's options for extract_page, built once.
_OPTIONS = Extractor(output_format="python", comments=False, tables=False, dedup=False)
_ID_AND_CLASS = XPath("//@id|//@class")  # each value knows its element (getparent)
_MATCH_NAMESPACES = {"re": "http://exslt.org/regular-expressions"}


def _hint(path: str, pattern: str) -> tuple["re.Pattern[str]", XPath]:
    """For a raw-tree prune `.//*[…]`: what an id or class value must contain for an element to
    match (a regex: any match in one of the element's values, or in them all joined by line
    ends, is necessary), and the expression asked of one such element."""
    assert path.lstrip().startswith(".//*[")
    return re.compile(pattern, re.MULTILINE), XPath(
        "self::*" + path.lstrip()[len(".//*") :], namespaces=_MATCH_NAMESPACES
    )


# trafilatura 2.3.1's raw-tree prunes (xpaths.RAW_TREE_PRUNE_XPATH and
# REMOVE_COMMENTS_AND_LISTS_XPATH), by their text: another version's are asked in full.
_PRUNE_HINTS = {
    path: _hint(path, pattern)
    for path, pattern in (
        (
            "\n        .//*[self::div or self::section or self::aside][\n        re:test(@id, "
            "'mvp-post-add-(?:box|wrap)|infinite-?scroll') or\n        re:test(@class, "
            "'mvp-post-add-(?:box|wrap)|infinite-?scroll')][\n        not(.//h1) or re:test(@id, "
            "'mvp-post-add-(?:box|wrap)') or re:test(@class, 'mvp-post-add-(?:box|wrap)')]\n"
            "        ",
            r"mvp-post-add-(?:box|wrap)|infinite-?scroll",
        ),
        (
            ".//*[self::div or self::section or self::aside][contains(@class, "
            "'elementor-share-buttons')]",
            r"elementor-share-buttons",
        ),
        (
            "\n        .//*[self::div or self::list or self::section or self::details or "
            "self::ol or self::ul][\n        re:test(@id, '^(?:[Cc]omment(?!ary)|comol|"
            "disqus_thread|dsq-comments)') or\n        re:test(@class, '^[Cc]omment(?!ary)|"
            "(?:article|post)-comments')][\n        not(self::ol or self::ul) or re:test(@id, "
            "'^(?:[Cc]omment(?!ary)|comol)') or re:test(@class, '^[Cc]omment(?!ary)|"
            "(?:article|post)-comments')]\n        ",
            r"^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)|(?:article|post)-comments",
        ),
    )
}


# basic_cleaning's expression (settings.BASIC_CLEAN_XPATH): tags, then cookie banners by id or
# class; each part by itself, when the expression is 2.3.1's.
_COOKIE_BANNER = (
    "cookie[-_]?(?:banner|bar|consent|law|notice|policy|description)|notice[-_]{0,2}cookie"
    "|consent[-_]?(?:banner|manager|sdk)|borlabs|cookiebot|cmplz|onetrust|moove[-_]?gdpr"
)
_BASIC_CLEAN_TAGS = (
    ".//aside|.//div[contains(@class|@id, 'footer')]|.//fencedframe|.//footer|.//script"
    "|.//style|.//svg|.//template"
)
_BASIC_CLEAN_WITHOUT_COOKIES = XPath(_BASIC_CLEAN_TAGS)
_COOKIE_HINT = (  # no line end in the pattern: a match in the joined values is one in a value
    re.compile(_COOKIE_BANNER, re.IGNORECASE)
    if BASIC_CLEAN_XPATH.path
    == f"{_BASIC_CLEAN_TAGS}|.//*[re:test(@class, '{_COOKIE_BANNER}', 'i') or "
    f"re:test(@id, '{_COOKIE_BANNER}', 'i')]"
    else None
)


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
    if not meta.author:
        meta.author = _byline(tree)  # now: the article's text is taken from the tree itself
    text = (_article_text(tree, html, url) or "").strip()
    if len(text) < MIN_TEXT_CHARS:
        return None  # a menu, a paywall stub or an error page, not an article
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


def _article_text(tree: HtmlElement, html: str, url: str) -> str | None:
    """The article's text, as trafilatura.bare_extraction(tree, url=url, with_metadata=False,
    include_comments=False, include_tables=False, deduplicate=False).text gives it: the same
    steps in the same order (core.bare_extraction and core.trafilatura_sequence, 2.3.1) without
    the work whose result it throws away. It takes `tree` apart (it copied it first); its
    options are built once (each build reads the configuration anew); its two prunes of the
    raw page (_prune_raw) test the few elements whose id or class could match instead of every
    element with a Python regex; and the page's text length that decides on a second, recall
    attempt is measured on the tree itself rather than on a copy, the tree being parsed again
    in the rare case that attempt runs. `html` is the page `tree` was parsed from."""
    options = copy(_OPTIONS)
    options.url = url
    options.source = url and url.encode("utf-8", "replace").decode("utf-8")
    try:
        body, text = _sequence(tree, html, url, options)
        if options.max_tree_size:
            if len(body) > options.max_tree_size:
                strip_tags(body, "hi")
            if len(body) > options.max_tree_size:
                raise ValueError
        if len(text) < options.min_output_size and options.min_output_comm_size > 0:
            raise ValueError  # no comments were asked for: their length is 0
    except (TypeError, ValueError):  # as bare_extraction: the page has no article
        return None
    return str(xmltotxt(body, options.formatting))


def _sequence(tree: HtmlElement, html: str, url: str, options: Extractor) -> tuple[Any, str]:
    """trafilatura_sequence for a balanced extraction without comments; (body, its text)."""
    is_forum = _forum_thread_page(tree)
    attributes = _ID_AND_CLASS(tree)
    tree = _prune_raw(tree, is_forum, attributes)
    cleaned_tree, cleaned_tree_backup = _prepare_tree(tree, options, url)
    postbody, temp_text = extract_content(cleaned_tree, options)
    postbody, temp_text = compare_extraction(
        cleaned_tree_backup, copy(tree), postbody, temp_text, options
    )
    if len(temp_text) < options.min_extracted_size:
        b_body, b_text, b_len = baseline(tree)  # baseline copies the tree it reads
        if b_len > len(temp_text):
            postbody, temp_text = b_body, b_text
    if not 0 < len(temp_text) < ESCALATION_MAX_LENGTH:
        return postbody, temp_text
    # html2txt(tree) without its copy: the tree is not read again unless the retry runs
    body = tree.find(".//body")
    page_text = _spaced_text(_basic_cleaning(tree if body is None else body, attributes))
    if len(temp_text) >= ESCALATION_PAGE_SHARE * len(page_text):
        return postbody, temp_text
    again = parse_html(html)
    if again is None:
        raise ValueError  # it parsed once: never
    esc_tree = _prune_raw(again, is_forum, _ID_AND_CLASS(again))
    r_options = copy(options)
    r_options.focus = "recall"
    r_text = j_text = ""
    try:
        r_body, r_text = _recall_retry(esc_tree, r_options, url)
    except Exception as err:
        logger.debug("recall retry failed: %s %s", err, url)
    try:
        j_body, j_text = justext_rescue(copy(esc_tree), options)
    except Exception as err:
        logger.debug("justext candidate failed: %s %s", err, url)
    len_text, r_len, j_len = len(temp_text), len(r_text), len(j_text)
    if j_len > r_len and j_len > ESCALATION_JUSTEXT_RATIO * len_text:
        return j_body, j_text
    if r_len >= options.min_extracted_size and r_len > ESCALATION_ACCEPT_RATIO * len_text:
        return r_body, r_text
    return postbody, temp_text


def _basic_cleaning(tree: HtmlElement, attributes: list[Any]) -> HtmlElement:
    """trafilatura's basic_cleaning, its cookie-banner test (a Python regex call per element)
    skipped when no id or class of the page (`attributes`, from _ID_AND_CLASS) could pass it."""
    if _COOKIE_HINT is None or _COOKIE_HINT.search("\n".join(attributes)):
        return basic_cleaning(tree)
    for element in _BASIC_CLEAN_WITHOUT_COOKIES(tree):
        delete_element(element)
    return tree


def _prune_raw(tree: HtmlElement, is_forum: bool, attributes: list[Any]) -> HtmlElement:
    """trafilatura_sequence's prunes of the raw page (infinite-scroll follow-ups; comments,
    since none are asked for, unless the page is a forum thread). `attributes`: the page's id
    and class values (from _ID_AND_CLASS), read before either prune."""
    expressions = RAW_TREE_PRUNE_XPATH + ([] if is_forum else REMOVE_COMMENTS_AND_LISTS_XPATH)
    everything = "\n".join(attributes)
    for expression in expressions:
        hint = _PRUNE_HINTS.get(expression.path)
        if hint is None:  # a trafilatura whose expressions we do not know: ask them all
            found = expression(tree)
        elif not hint[0].search(everything):
            continue  # no id or class could match: nothing to prune
        else:
            pattern, itself = hint
            suspects = dict.fromkeys(a.getparent() for a in attributes if pattern.search(a))
            found = [e for e in suspects if e is not tree and itself(e)]
        for element in found:
            delete_element(element)  # an element inside one deleted before: harmless
    return tree


def _metadata(tree: HtmlElement, url: str, search_date: bool) -> Document:
    """Title, author (when <meta> or JSON-LD name one), site name, canonical URL and, when
    `search_date`, htmldate's date: trafilatura's extract_metadata without the fields this
    project never reads. Not yet trimmed (Document.clean_and_trim)."""
    meta = examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None  # as trafilatura: a one-word "author" is a handle or a section
    try:
        meta = _meta_json(tree, meta)
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


def _meta_json(tree: HtmlElement, meta: Document) -> Document:
    """trafilatura's extract_meta_json (metadata.py, 2.3.1), its minifying substitution given
    a function rather than the template r"\1", which re expands in Python for every match
    (every space between two JSON tokens): the same text in half the time."""
    for element in _JSON_LD(tree):
        if not element.text:
            continue
        text = normalize_json(JSON_MINIFY.sub(_in_quotes, element.text))
        try:
            meta = extract_json(json.loads(text, strict=False), meta)
        except json.JSONDecodeError:
            meta = extract_json_parse_error(text, meta)
    return meta


def _in_quotes(match: "re.Match[str]") -> str:
    return match[1] or ""


def _byline(tree: HtmlElement) -> str | None:
    """The author named in the page's byline: trafilatura's extract_author, which prunes
    comments, sidebars, dates and figures from a copy of the page and then takes the first
    element its byline patterns find whose text is a name's length. Here the patterns run on
    the page as it is and each element found is checked instead: one inside a pruned part is
    passed over, and only one holding a pruned part is copied and pruned (the same text, with
    a pruned part's tail kept as trafilatura keeps it). Each element's words are read once
    (_byline_words): nested bylines, each holding a pruned part, once cost a copy and a prune
    of each one's whole subtree (47 s for a 425 KB page of them)."""
    known: dict[HtmlElement, bool] = {}
    words: dict[HtmlElement, list[str] | None] = {}
    tried: set[HtmlElement] = set()
    for candidates in _byline_candidates(tree):
        for found in candidates:
            if found in tried or _in_discarded(found, known):
                continue  # an element an expression before found and turned down
            tried.add(found)
            said = _byline_words(found, words, _MAX_AUTHOR_CHARS)
            if said is not None and len(author := " ".join(said)) > 2:
                return normalize_authors(None, author)
    return None


def _byline_words(
    element: HtmlElement, known: dict[HtmlElement, list[str] | None], limit: int
) -> list[str] | None:
    """The words of the element's text as trafilatura's byline search reads them: without the
    parts it prunes (_discarded), each one's tail joined to the text before it (as its
    delete_element joins it); None when they are `limit` characters long or more, joined by
    spaces. `known` keeps each element's words, which the bylines around it share."""
    if element in known:
        return known[element]
    words: list[str] = []
    size = -1  # the length of the words joined by spaces
    slot = element.text or ""  # text that reads as one piece (itertext's)
    for child in element:
        element_child = isinstance(child.tag, str)  # a comment's text is not read, its tail is
        if element_child and _discarded(child):
            slot += child.tail or ""
            continue
        inner = _byline_words(child, known, limit) if element_child else []
        if inner is None:
            known[element] = None
            return None
        more = slot.split() + inner
        words += more
        size += len(more) + sum(map(len, more))
        if size >= limit:
            known[element] = None
            return None
        slot = child.tail or ""
    more = slot.split()
    words += more
    size += len(more) + sum(map(len, more))
    known[element] = words if size < limit else None
    return known[element]


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
    # trafilatura strips a DOCTYPE with a pattern that is quadratic on a long first line (40 KB
    # of "<! DOCTYPE ////" took 3.7 s); an HTML parser needs none, and one with an internal
    # subset may declare entities. So the DOCTYPE goes first, and any its pattern would then
    # see at the very start, as it would after its own removal of control characters.
    html = INVALID_XML_CHARS.sub("", html)
    at = _text_at(html, 0)
    if html[at : at + 9].lower() != "<!doctype":
        at = 0  # read whole, as trafilatura reads it (its pattern needs one at the very start)
    while declaration := _DOCTYPE.match(html, at):
        end = html.find(">", declaration.end())
        if end < 0:
            return _load_html("")
        at = end + 1
    return _load_html(html[at:] if at else html)


def _text_at(html: str, at: int) -> int:
    """Where the first character from `at` on that is not white space is (or the end)."""
    found = _NOT_SPACE.search(html, at)
    return found.start() if found else len(html)


def _load_html(html: str) -> HtmlElement | None:
    """trafilatura.load_html(html) (utils.load_html, 2.3.1, for a str), parsing with _PARSER."""
    beginning = html[:50].lower()
    dubious = is_dubious_html(beginning)
    html = repair_faulty_html(html, beginning)
    tree, as_bytes = None, False
    try:
        tree = fromstring(html, parser=_PARSER)
    except ValueError:  # "Unicode strings with encoding declaration are not supported."
        tree, as_bytes = _from_bytes(html), True
    except Exception:
        logger.debug("lxml could not parse a page", exc_info=True)
    if (tree is None or len(tree) < 1) and not as_bytes:
        tree = _from_bytes(html)
    if tree is not None and dubious and len(tree) < 2:
        return None  # not HTML at all
    return tree


def _from_bytes(html: str) -> HtmlElement | None:
    try:
        return fromstring(html.encode("utf8", "surrogatepass"), parser=_PARSER)
    except Exception:
        logger.debug("lxml could not parse a page's bytes", exc_info=True)
        return None


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
    title = " ".join(_TITLE_CONTROL.sub(" ", title[: limit * 4]).split())
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
