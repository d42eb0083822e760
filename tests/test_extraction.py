"""The extraction wrapper: titles, dates, text boundaries, with/without snippets."""

from datetime import UTC, datetime

from crawler.demo.site import DemoArticle, article_html
from crawler.extraction.page import clean_title, extract_page, extract_text, readable_title
from spiders.dates import parse_date

BODY = [
    "Pakistan's parliament debated the renewal of the security agreement for a second day, "
    "with members from both benches questioning the terms of the deal.",
    "The minister said the agreement would allow the purchase of equipment that the armed "
    "forces have sought for years, and that nothing in it limited national sovereignty.",
]


def page(**kw: object) -> str:
    a = DemoArticle(
        path="/opinion/1/x",
        title="Parliament debates the security pact",
        author="Zofeen Ebrahim",
        published=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        paragraphs=BODY,
        comments=["TTP is behind it all, trust me"],
        sidebar=["FATF grey list: what next"],
        **kw,
    )  # type: ignore[arg-type]
    return article_html(a, "Daily Example", "https://example.org")


def test_metadata_and_body() -> None:
    x = extract_page(page(), "https://example.org/opinion/1/x", ("Daily Example",))
    assert x is not None
    assert x.title == "Parliament debates the security pact"
    assert x.author == "Zofeen Ebrahim"
    assert x.published == datetime(2026, 11, 20, 9, 30, tzinfo=UTC) and x.date_declared
    assert x.language == "en"
    # with / without snippets, as in trafilatura's own evaluation
    assert "questioning the terms of the deal" in x.text
    assert "limited national sovereignty" in x.text
    assert "trust me" not in x.text and "grey list" not in x.text
    assert "All rights reserved" not in x.text and "Privacy policy" not in x.text
    assert not x.text.startswith(x.title)


def test_pages_without_article_text_give_none() -> None:
    assert extract_page("<html><body><nav>Home</nav></body></html>", "https://e.org/") is None
    assert extract_page("", "https://e.org/") is None


def test_title_suffixes_and_prefixes_are_dropped() -> None:
    names = ("Dawn", "The Express Tribune", "timesofindia.indiatimes.com")
    assert (
        clean_title("Renewing CISMOA: what it means | Dawn", names)
        == "Renewing CISMOA: what it means"
    )
    assert clean_title("DAWN - A column", names) == "A column"
    assert clean_title("A story - Times of India", names) == "A story"
    assert clean_title("A story | Bhopal News", names) == "A story"
    assert clean_title("Op-ed: a - b test | The Express Tribune", names) == "Op-ed: a - b test"
    assert clean_title("Keep - this whole title", names) == "Keep - this whole title"
    assert (
        clean_title("SEO words: The real headline here | Site", names, "The real headline here")
        == "The real headline here"
    )


def test_dates_with_south_asian_zone_names() -> None:
    assert parse_date("Nov 20, 2026 10:00 IST") == datetime(2026, 11, 20, 4, 30, tzinfo=UTC)
    assert parse_date("2026-11-20T10:00:00+05:00") == datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
    assert parse_date("2026-11-20") == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_date("not a date") is None


def test_titles_are_cut_to_a_readable_length_at_a_word() -> None:
    assert readable_title("A short\x00 title\n") == "A short title"
    # no terminal escape (C1) and no bidi override that shows "gnp.exe" as "exe.png"
    assert readable_title("Report\x9b2J \u202egnp.exe\u202c here") == "Report 2J gnp.exe here"
    long = readable_title("word " * 200, limit=30)
    assert long == "word word word word word word…" and len(long) <= 30
    assert readable_title("x" * 50, limit=10) == "xxxxxxxxx…"  # no space: cut inside


def test_the_declared_date_comes_from_json_ld_when_no_meta_says_it() -> None:
    html = page().replace('property="article:published_time"', 'property="other"')
    html = html.replace(
        "</head>",
        '<script type="application/ld+json">{"datePublished": "2026-11-20T09:30:00Z"}</script>'
        "</head>",
    )
    x = extract_page(html, "https://example.org/opinion/1/x", ("Daily Example",))
    assert x is not None and x.date_declared
    assert x.published == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def test_plain_text_is_an_article_whose_first_short_line_is_the_title() -> None:
    x = extract_text("Renewing CISMOA\n\n" + "\n\n".join(BODY))
    assert x is not None and x.title == "Renewing CISMOA" and x.text.startswith("Pakistan's")
    x = extract_text("\n\n".join(BODY))  # the first line is a paragraph: no title
    assert x is not None and x.title == "" and x.text.startswith("Pakistan's")
    assert extract_text(" \n ") is None
