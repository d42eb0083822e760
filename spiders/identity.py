"""Which URL an article is filed under, when the page or its redirects name another one.

A page's canonical link and the redirects that led to it are written by the site, and a
misconfigured one (every canonical naming the home page, articles redirected to the home page
for an hour) must not file an article under its home page, a section or another article: the
URL an article is filed under is remembered for good, so whatever it swallows is never fetched.

A canonical link is believed only when it names a variant of the fetched URL: another scheme,
host prefix (www., m.) or port, a trailing slash, the AMP form of the page, fewer query
parameters. It merges the spellings of one article, never two articles. A URL is section-like
when it is the site's root, a path above the article's, or one of the outlet's sources: what
lands there is not an article.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from spiders.urls import BadURL, url_key

_AMP_QUERY = {("amp", ""), ("amp", "1"), ("amp", "true"), ("outputtype", "amp")}


@dataclass(frozen=True)
class _Place:
    host: str  # without port: a site's canonical links may leave the port out
    path: str  # without a trailing slash or an AMP marker
    query: frozenset[tuple[str, str]]


def _place(url: str) -> _Place:
    """The parts of `url_key(url)` that say which page it is; BadURL as url_key raises it."""
    parts = urlsplit("//" + url_key(url))
    segments = parts.path.split("/")[1:]
    if segments and segments[-1].endswith(".amp"):
        segments[-1] = segments[-1].removesuffix(".amp")
    if segments and segments[0] == "amp":  # /amp/slug
        segments = segments[1:]
    if segments and segments[-1] == "amp":  # /slug/amp
        segments = segments[:-1]
    query = frozenset(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if (k.lower(), v.lower()) not in _AMP_QUERY
    )
    return _Place(parts.hostname or "", "/" + "/".join(segments).strip("/"), query)


def is_variant(canonical: str, fetched: str) -> bool:
    """Whether `canonical` names the same page as `fetched`, spelt another way (module doc).

    A canonical may drop query parameters (?page=2, ?output=print) but not add or change one:
    /story?id=5 naming /story?id=6 names another article. It may add or drop a slug after
    the article's id (/news/1789012 and /news/1789012/budget-talks), as news sites do."""
    c, f = _place(canonical), _place(fetched)
    if c.host != f.host or not c.query <= f.query:
        return False
    return c.path == f.path or any(
        slugged(a, b)
        for slugged in (_slugged, _hyphened)
        for a, b in ((c.path, f.path), (f.path, c.path))
    )


# An article's number in its URL (/news/1789012, /story/2345678); not a year.
_ID = re.compile(r"\d{5,}")


def _slugged(path: str, longer: str) -> bool:
    """Whether `longer` is `path`, ending in an article's number, with a slug after it."""
    head, _, slug = longer.rpartition("/")
    return bool(slug) and head == path and _is_id(path)


def _hyphened(path: str, longer: str) -> bool:
    """Whether `longer` is `path`, ending in an article's number, with "-slug" joined to it
    (/news/1789012 and /news/1789012-budget-talks)."""
    head, _, number = path.rpartition("/")
    other_head, _, last = longer.rpartition("/")
    return (
        head == other_head and number.isdigit() and _is_id(path) and last.startswith(number + "-")
    )


def _is_id(path: str) -> bool:
    """Whether the path's last segment holds an article's number: an article, not a section."""
    return bool(_ID.search(path.rpartition("/")[2]))


def is_section_like(url: str, article: str, sources: Iterable[str]) -> bool:
    """Whether `url` is the site's root, a path above `article`'s, or one of `sources` (the
    outlet's feeds, sitemaps and listings): a page there is not the article's own."""
    place = _place(url)
    if place.path == "/" and not place.query:  # /?p=123 is a WordPress article
        return True
    mine = _place(article)
    if mine.host == place.host and mine.path.startswith(place.path + "/"):
        return not _slugged(place.path, mine.path)  # /news/1789012 above its slug: the article
    key = url_key(url)
    for source in sources:
        try:
            if url_key(source) == key:
                return True
        except BadURL:  # a configured source is checked when loaded; never a reason to fail
            continue
    return False
