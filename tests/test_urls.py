"""One article, one URL: tracking parameters, fragments, www., slashes, schemes."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scrapy import Request

from spiders.addresses import NetworkPolicy, RefusedURL, host_port
from spiders.urls import BadURL, clean_url, join_url, same_site, url_key


@pytest.mark.parametrize(
    "variant",
    [
        "https://www.dawn.com/news/1780000/renewing-cismoa",
        "https://www.dawn.com/news/1780000/renewing-cismoa/",
        "http://dawn.com/news/1780000/renewing-cismoa",
        "https://WWW.DAWN.COM/news/1780000/renewing-cismoa#comments",
        "https://www.dawn.com/news/1780000/renewing-cismoa?utm_source=twitter&utm_medium=social",
        "https://m.dawn.com/news/1780000/renewing-cismoa?fbclid=abc",
        "https://www.dawn.com:443/news/1780000/renewing-cismoa?gclid=1",
    ],
)
def test_variants_share_one_key(variant: str) -> None:
    assert url_key(variant) == "dawn.com/news/1780000/renewing-cismoa"


def test_meaningful_query_parameters_stay() -> None:
    assert url_key("https://e.org/story.php?id=7&utm_source=x") == "e.org/story.php?id=7"
    assert url_key("https://e.org/story.php?id=7") != url_key("https://e.org/story.php?id=8")


def test_clean_url_keeps_what_users_click() -> None:
    assert (
        clean_url("https://www.dawn.com/news/1?utm_source=x#top") == "https://www.dawn.com/news/1"
    )
    assert clean_url("https://e.org:443/a b") == "https://e.org/a%20b"
    assert clean_url("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/x"


def test_same_site() -> None:
    assert same_site("https://www.dawn.com/a", "https://dawn.com/b")
    assert not same_site("https://dawn.com/a", "https://evil.example/b")


# Property tests: whatever a feed, a sitemap or a page spells as a URL, these functions
# answer or raise their one documented error; never urlsplit's ValueError, never a crash.

_HOSTS = st.one_of(
    st.from_regex(r"[a-zA-Z0-9.\-_]{0,70}", fullmatch=True),
    st.text(max_size=20),
    st.ip_addresses().map(lambda a: f"[{a}]" if a.version == 6 else str(a)),
    st.sampled_from(
        ["[::1]", "[::1", "::1]", "[vx.1]", "[fe80::1%eth0]", "[::ffff:127.0.0.1]"]
        + ["℀.com", "xn--", "xn--a.com", "a..b", "a" * 64 + ".com", "\udcff", "www.", "m."]
    ),
)
_PORTS = st.one_of(
    st.just(""),
    st.integers(-10, 100_000).map(lambda p: f":{p}"),
    st.text(max_size=6).map(":{}".format),
)
_PIECES = st.text(
    alphabet=st.characters(codec="utf-8") | st.sampled_from("/?&=#%[]@:"), max_size=30
)
_QUERIES = st.lists(
    st.tuples(st.sampled_from(["utm_source", "id", "ref", "", "a"]), st.text(max_size=5)),
    max_size=3,
).map(lambda kv: "?" + "&".join(f"{k}={v}" for k, v in kv) if kv else "")
NEARLY_URLS = st.builds(
    "{}://{}{}{}/{}{}{}".format,
    st.sampled_from(["http", "https", "HTTP", "ftp", "file", "javascript", ""]),
    st.sampled_from(["", "user:pw@", "@", "a@b@"]),
    _HOSTS,
    _PORTS,
    _PIECES,
    _QUERIES,
    st.one_of(st.just(""), _PIECES.map("#{}".format)),
)
ANY_URL = st.one_of(
    NEARLY_URLS, st.text(), st.binary().map(lambda b: b.decode("utf-8", "surrogateescape"))
)
PROPERTY = settings(max_examples=400, deadline=None)


def _clean_or_none(url: str) -> str | None:
    try:
        return clean_url(url)
    except BadURL:
        return None


@PROPERTY
@given(ANY_URL)
def test_any_string_is_keyed_or_a_bad_url(url: str) -> None:
    cleaned = _clean_or_none(url)
    if cleaned is None:
        with pytest.raises(BadURL):
            url_key(url)
        return
    # The stored URL names the same article as the one it came from, and is already clean.
    assert url_key(cleaned) == url_key(url)
    assert clean_url(cleaned) == cleaned


@PROPERTY
@given(ANY_URL, ANY_URL)
def test_same_site_never_raises(a: str, b: str) -> None:
    assert same_site(a, b) in (True, False)


@PROPERTY
@given(ANY_URL)
def test_the_guard_refuses_or_passes_and_what_passes_can_be_keyed(url: str) -> None:
    """host_port and the network guard raise only RefusedURL; what they let through, the
    spider can request and the known-URL check and fingerprints can key."""
    try:
        host_port(url)
        NetworkPolicy().check(url, resolve=lambda host, port: ["93.184.216.34"])
    except RefusedURL:
        return
    assert _clean_or_none(url) is not None
    url_key(Request(url).url)


@PROPERTY
@given(ANY_URL, ANY_URL)
def test_join_url_never_raises(base: str, href: str) -> None:
    joined = join_url(base, href)
    assert joined is None or isinstance(joined, str)


@pytest.mark.parametrize(
    "url",
    ["http://[::1", "http://e.org:99999/", "http://e.org:x/", "http://℀.com/", "http://e/\ud800"],
)
def test_urls_that_name_no_place_are_bad_urls(url: str) -> None:
    with pytest.raises(BadURL):
        clean_url(url)
    with pytest.raises(RefusedURL):
        host_port(url)
    assert not same_site(url, url)


def test_ipv6_literals_keep_their_brackets() -> None:
    assert clean_url("http://[::1]:8080/a?utm_source=x") == "http://[::1]:8080/a"
    assert clean_url("http://[::1]:80/a") == "http://[::1]/a"
    assert url_key("https://[2001:db8::1]/a/") == "[2001:db8::1]/a"
