"""Discovery parsers: RSS 2.0, RSS 1.0, Atom, sitemaps, indexes, news sitemaps, hostile XML."""

import gzip
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spiders.diagnosis import diagnose, read_items
from spiders.feeds import parse_feed
from spiders.sitemaps import UnreadableSitemap, parse_sitemap, read_sitemap_body, unpack_sitemap

RSS2 = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>One</title><link>https://e.org/1</link>
<pubDate>Tue, 24 Nov 2026 10:00:00 +0500</pubDate></item>
<item><title>Two</title><link>/2</link></item></channel></rss>"""

RSS1 = b"""<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
 xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://e.org/"><title>T</title><link>https://e.org/</link></channel>
<item rdf:about="https://e.org/a"><title>A</title><link>https://e.org/a</link>
<dc:date>2026-11-24T10:00:00Z</dc:date></item></rdf:RDF>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>T</title><id>x</id><updated>2026-11-24T10:00:00Z</updated>
<entry><title>A</title><link rel="alternate" href="https://e.org/a"/><id>a</id>
<updated>2026-11-24T10:00:00Z</updated></entry></feed>"""

LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"""


def test_rss2() -> None:
    feed = parse_feed(RSS2, "https://e.org/feed")
    assert feed.is_feed
    assert [e.url for e in feed.entries] == ["https://e.org/1", "https://e.org/2"]
    assert feed.entries[0].published == datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    assert feed.entries[1].published is None


def test_rss1_and_atom() -> None:
    rss1 = parse_feed(RSS1, "https://e.org/feed")
    assert [e.url for e in rss1.entries] == ["https://e.org/a"]
    assert rss1.entries[0].published == datetime(2026, 11, 24, 10, tzinfo=UTC)
    atom = parse_feed(ATOM, "https://e.org/feed")
    assert [(e.url, e.title) for e in atom.entries] == [("https://e.org/a", "A")]


def test_html_and_garbage_are_not_feeds() -> None:
    assert not parse_feed(b"<html><body>Just a moment...</body></html>", "https://e.org/").is_feed
    assert parse_feed(b"\x00\xff garbage", "https://e.org/").entries == []


def test_feed_entities_are_not_expanded() -> None:
    body = (
        LAUGHS
        + b'<rss version="2.0"><channel><title>&lol9;&xxe;</title><item><title>&lol9;</title>'
        b"<link>https://e.org/1</link></item></channel></rss>"
    )
    feed = parse_feed(body, "https://e.org/feed")
    assert all(len(e.title or "") < 1000 and "root:" not in (e.title or "") for e in feed.entries)


def test_sitemap_urlset_index_and_news() -> None:
    urlset = parse_sitemap(b"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
        <url><loc>https://e.org/a</loc><lastmod>2026-11-24</lastmod></url></urlset>""")
    assert urlset.kind == "urlset"
    assert urlset.entries[0].published == datetime(2026, 11, 24, tzinfo=UTC)
    assert urlset.entries[0].date_source == "sitemap-lastmod"
    index = parse_sitemap(b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
        <sitemap><loc>https://e.org/s1.xml.gz</loc></sitemap></sitemapindex>""")
    assert index.kind == "index" and index.entries[0].url == "https://e.org/s1.xml.gz"
    news = parse_sitemap(b"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>https://e.org/n</loc>
        <news:news><news:publication><news:name>E</news:name></news:publication>
        <news:publication_date>2026-11-24T10:30:00+05:00</news:publication_date>
        <news:title>FATF &amp; the grey list</news:title></news:news></url></urlset>""")
    e = news.entries[0]
    assert (e.title, e.date_source) == ("FATF & the grey list", "sitemap-news")
    assert e.published == datetime(2026, 11, 24, 5, 30, tzinfo=UTC)


def test_sitemap_that_is_not_a_sitemap() -> None:
    assert parse_sitemap(b"<html><body>hello</body></html>").kind == "invalid"
    assert parse_sitemap(b"").kind == "invalid"
    assert parse_sitemap(b"not xml").kind == "invalid"


def test_sitemap_entities_are_not_expanded() -> None:
    body = (
        LAUGHS
        + b"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
        <url><loc>https://e.org/&lol9;&xxe;</loc></url></urlset>"""
    )
    result = parse_sitemap(body)
    assert all(len(e.url) < 1000 and "root:" not in e.url for e in result.entries)


def test_gzip_sitemaps_are_bounded() -> None:
    assert read_sitemap_body(gzip.compress(b"<urlset/>")) == b"<urlset/>"
    assert read_sitemap_body(b"<urlset/>") == b"<urlset/>"
    assert read_sitemap_body(b"\x1f\x8b broken") is None


def test_sitemaps_are_read_incrementally_up_to_a_cap() -> None:
    urls = "".join(f"<url><loc>https://e.org/{i}</loc></url>" for i in range(5000))
    body = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode()
    whole = parse_sitemap(body)
    assert len(whole.entries) == 5000 and not whole.truncated
    capped = parse_sitemap(body, max_entries=100)
    assert capped.truncated and [e.url for e in capped.entries][-1] == "https://e.org/99"
    # A document cut off mid-way keeps what came before the break.
    broken = parse_sitemap(body[: len(body) // 2])
    assert broken.kind == "urlset" and 2000 < len(broken.entries) < 2600


# Property tests: feeds, sitemaps and listing pages are written by strangers. The parsers
# never raise, whatever the bytes: what cannot be read is no entries, or "invalid".

_NAMES = st.sampled_from(
    ["rss", "channel", "item", "link", "title", "pubDate", "guid", "description", "feed"]
    + ["entry", "updated", "published", "urlset", "url", "loc", "lastmod", "sitemapindex"]
    + ["sitemap", "news:news", "news:publication_date", "news:title", "rdf:RDF", "a", ":", "x:"]
)
_SPECIALS = st.sampled_from(
    ["&amp;", "&lt;", "&#0;", "&#x110000;", "&#xD800;", "&#2147500000;", "&nbsp;", "&e;", "&"]
    + ["<![CDATA[x]]>", "<!-- c -->", "<?pi x?>", "]]>", "http://[::1", "http://e.org:99999/"]
    + ["2024-13-45", "Mon, 99 Foo 2024 25:61:61 +9999", "9999-12-31T23:59:59Z", "0001-01-01"]
    + ["https://e.org/a", "/relative", "javascript:x", '<a href="http://[::1">']
)
_TEXT = st.one_of(st.text(max_size=20), _SPECIALS)
_ATTRS = st.lists(
    st.builds(
        ' {}="{}"'.format,
        st.sampled_from(["href", "rel", "xmlns", "xmlns:news", "version", "type", "x"]),
        st.one_of(
            _TEXT.map(lambda t: t.replace('"', "")),
            st.sampled_from(
                ["http://www.sitemaps.org/schemas/sitemap/0.9", "2.0", "alternate"]
                + ["http://www.google.com/schemas/sitemap-news/0.9", "http://www.w3.org/2005/Atom"]
            ),
        ),
    ),
    max_size=3,
).map("".join)
_XML = st.recursive(
    _TEXT,
    lambda inner: st.builds(
        "<{0}{1}>{2}</{0}>".format, _NAMES, _ATTRS, st.lists(inner, max_size=4).map("".join)
    ),
    max_leaves=25,
)
_PROLOGS = st.sampled_from(
    ["", '<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-16"?>', "\ufeff"]
    + ['<?xml version="1.0" encoding="bogus"?>', '<?xml version="1.0" encoding="cp1256"?>']
    + ['<!DOCTYPE x [<!ENTITY e "&e;&e;">]>', "<!DOCTYPE[", '<!DOCTYPE x SYSTEM "file:///x">']
)
_DOCUMENTS = st.builds(
    lambda prolog, xml, encoding: (prolog + xml).encode(encoding, "replace"),
    _PROLOGS,
    _XML,
    st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1252"]),
)
ANY_BODY = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
    _DOCUMENTS,
    _DOCUMENTS.map(gzip.compress),
    st.tuples(_DOCUMENTS, st.integers(0, 400)).map(lambda d: d[0][: d[1]]),
    # a gzip header, then anything: a corrupt deflate stream raises zlib.error, not OSError
    st.tuples(_DOCUMENTS.map(gzip.compress), st.integers(10, 60), st.binary(max_size=40)).map(
        lambda g: g[0][: g[1]] + g[2]
    ),
)
_BASES = st.sampled_from(["https://e.org/feed", "http://[::1]/x", "http://e.org:99999/"])
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 11, 24, tzinfo=UTC)


@PROPERTY
@given(ANY_BODY, _BASES)
def test_parse_feed_never_raises(body: bytes, url: str) -> None:
    feed = parse_feed(body, url)
    assert all(isinstance(e.url, str) and e.url for e in feed.entries)
    assert feed.is_feed or not feed.entries


@PROPERTY
@given(ANY_BODY, st.sampled_from([None, 3]))
def test_sitemap_reading_never_raises(body: bytes, cap: int | None) -> None:
    try:
        unpacked = unpack_sitemap(body)
    except UnreadableSitemap as exc:  # its one documented error: counted by its kind
        assert exc.kind in ("parse", "too_large")
        unpacked = None
    assert read_sitemap_body(body) == unpacked
    sitemap = parse_sitemap(unpacked if unpacked is not None else body, cap)
    assert sitemap.kind in ("urlset", "index", "invalid")
    assert cap is None or len(sitemap.entries) <= cap
    assert all(isinstance(e.url, str) and e.url for e in sitemap.entries)


@PROPERTY
@given(ANY_BODY, _BASES, st.sampled_from([None, 200, 404, 503]))
def test_source_diagnosis_never_raises(body: bytes, url: str, status: int | None) -> None:
    for kind in ("feed", "sitemap", "listing"):
        items = read_items(kind, body, url, None)
        word = diagnose(status, body, items, None, NOW, timedelta(days=2))
        assert word in {"ok", "blocked", "challenge", "gone", "error", "invalid", "empty", "stale"}


def test_a_character_reference_no_parser_decodes_loses_only_itself() -> None:
    feed = parse_feed(
        RSS2.replace(b"<title>One</title>", b"<title>&#xD800; &#2147500000; &#x110000;</title>"),
        "https://e.org/feed",
    )
    assert [e.url for e in feed.entries] == ["https://e.org/1", "https://e.org/2"]
    assert feed.entries[0].title == "\ufffd \ufffd \ufffd"
    sitemap = parse_sitemap(
        b'<urlset><url><x:loc xmlns:x="&#xD800;">https://e.org/a</x:loc></url>'
        b"<url><loc>https://e.org/b&#xD800;</loc></url><url><loc>https://e.org/c</loc></url>"
        b"</urlset>"
    )
    assert [e.url for e in sitemap.entries] == [
        "https://e.org/a",
        "https://e.org/b\ufffd",
        "https://e.org/c",
    ]


def test_broken_names_and_gzip_are_no_crash() -> None:
    assert parse_sitemap(b"<:").kind == "invalid"
    assert parse_sitemap(b"<urlset><url><:>x</:><loc>https://e.org/a</loc></url></urlset>").entries
    packed = gzip.compress(b"<urlset>" * 100)
    assert read_sitemap_body(packed[:10] + b"\xff" * 30) is None  # zlib.error inside
    with pytest.raises(UnreadableSitemap):
        unpack_sitemap(packed[:10] + b"\xff" * 30)
    listing = b'<a href="http://[::1">x</a><a href="/opinion/1">y</a>'
    assert read_items("listing", listing, "https://e.org/", "/opinion/").count == 1
