"""One article, one URL: tracking parameters, fragments, www., slashes, schemes."""

import pytest

from spiders.urls import clean_url, same_site, url_key


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
