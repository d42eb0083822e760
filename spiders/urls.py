"""URL canonicalisation: one article, one URL, however a feed or a share link spells it."""

import re
from urllib.parse import SplitResult, parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|igshid|yclid|_ga|_gl"
    r"|ref|ref_src|refsrc|cmpid|ito|ncid|ocid|sr_share|share|from|src|s_cid|__twitter_impression)$",
    re.IGNORECASE,
)


class BadURL(ValueError):
    """A URL that names no place (a broken IPv6 literal, a port out of range, unencodable
    characters); the item carrying it is counted as a `parse` error."""


def _split(url: str) -> SplitResult:
    """urlsplit, with its port parsed and the URL encodable, or BadURL."""
    try:
        url.encode("utf-8")
        parts = urlsplit(url.strip())
        _ = parts.port
    except ValueError as exc:  # UnicodeEncodeError is one too
        raise BadURL(f"{url[:200]!r}: not a usable URL ({exc})") from None
    return parts


def clean_url(url: str) -> str:
    """The URL to store and show: no fragment, no tracking parameters, normalised escapes.

    Raises BadURL (a ValueError) and nothing else for a URL that cannot be taken apart.
    """
    parts = _split(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)
    ]
    scheme = parts.scheme.lower()
    default_port = {"http": 80, "https": 443}.get(scheme)
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets, or the port is read from it
        host = f"[{host}]"
    rebuilt = urlunsplit((scheme, host + port, parts.path or "/", urlencode(query), ""))
    try:
        return canonicalize_url(rebuilt, keep_fragments=False)
    except ValueError as exc:  # w3lib re-parses: an IPv6 literal may still be refused
        raise BadURL(f"{url[:200]!r}: not a usable URL ({exc})") from None


def url_key(url: str) -> str:
    """The identity of an article URL: `clean_url` without scheme, `www.` or trailing slash.

    http/https, www./bare host and "/slug" vs "/slug/" all name the same article on news
    sites, so they share one key; the key is what "already fetched?" checks. Raises BadURL
    and nothing else, as clean_url does.
    """
    parts = _split(clean_url(url))
    host = (parts.hostname or "").removeprefix("www.").removeprefix("m.")
    if ":" in host:
        host = f"[{host}]"
    if parts.port and parts.port not in (80, 443):
        host += f":{parts.port}"
    path = parts.path.rstrip("/") or "/"
    return host + path + (f"?{parts.query}" if parts.query else "")


def join_url(base: str, href: str) -> str | None:
    """`href` made absolute against `base` (urljoin), or None when either cannot be taken
    apart (urljoin raises on "http://[::1"); never raises: links are hostile input."""
    try:
        return urljoin(base, href)
    except ValueError:
        return None


def same_site(a: str, b: str) -> bool:
    """True when two URLs are on the same registrable-ish host (ignoring www. and m.); never
    raises: a URL that cannot be taken apart is on no site (a page's canonical link is
    hostile input)."""

    def host(u: str) -> str | None:
        try:
            return (_split(u).hostname or "").removeprefix("www.").removeprefix("m.")
        except BadURL:
            return None

    first = host(a)
    return first is not None and first == host(b)
