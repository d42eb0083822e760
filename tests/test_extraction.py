"""The extraction wrapper: titles, dates, text boundaries, with/without snippets."""

from datetime import UTC, datetime

from crawler.demo.site import DemoArticle, article_html
from crawler.extraction.page import clean_title, extract_page
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
