"""URL canonicalisation: one article, one URL, however a feed or a share link spells it."""

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|igshid|yclid|_ga|_gl"
    r"|ref|ref_src|refsrc|cmpid|ito|ncid|ocid|sr_share|share|from|src|s_cid|__twitter_impression)$",
    re.IGNORECASE,
)


def clean_url(url: str) -> str:
    """The URL to store and show: no fragment, no tracking parameters, normalised escapes."""
    parts = urlsplit(url.strip())
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)
    ]
    scheme = parts.scheme.lower()
    default_port = {"http": 80, "https": 443}.get(scheme)
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    rebuilt = urlunsplit(
        (scheme, (parts.hostname or "") + port, parts.path or "/", urlencode(query), "")
    )
    return canonicalize_url(rebuilt, keep_fragments=False)


def url_key(url: str) -> str:
    """The identity of an article URL: `clean_url` without scheme, `www.` or trailing slash.

    http/https, www./bare host and "/slug" vs "/slug/" all name the same article on news
    sites, so they share one key; the key is what "already fetched?" checks.
    """
    parts = urlsplit(clean_url(url))
    host = (parts.hostname or "").removeprefix("www.").removeprefix("m.")
    if parts.port and parts.port not in (80, 443):
        host += f":{parts.port}"
    path = parts.path.rstrip("/") or "/"
    return host + path + (f"?{parts.query}" if parts.query else "")


def same_site(a: str, b: str) -> bool:
    """True when two URLs are on the same registrable-ish host (ignoring www. and m.)."""

    def host(u: str) -> str:
        return (urlsplit(u).hostname or "").removeprefix("www.").removeprefix("m.")

    return host(a) == host(b)
