"""Every bundled outlet validates; ids are unique; URLs parse; each has a source."""

from urllib.parse import urlsplit

import pytest

from spiders.outlets import Outlet, bundled_catalogue, select_outlets

CATALOGUE = bundled_catalogue()


def test_size_and_unique_ids() -> None:
    ids = [o.id for o in CATALOGUE]
    assert len(ids) == len(set(ids))
    assert len(CATALOGUE) >= 30
    assert {"PK", "IN", "BD", "NP", "AF", "regional"} <= {o.country for o in CATALOGUE}


@pytest.mark.parametrize("outlet", CATALOGUE, ids=lambda o: o.id)
def test_outlet(outlet: Outlet) -> None:
    assert outlet.sources(), "no feeds, sitemaps or listings"
    for _, url in outlet.sources():
        parts = urlsplit(url)
        assert parts.scheme in ("http", "https") and parts.hostname and "." in parts.hostname
    if outlet.listings:
        assert outlet.article_url_pattern, "listing pages need article_url_pattern"
    assert outlet.confirmed, "say where the URLs were seen"
    assert Outlet.model_validate(outlet.model_dump()) == outlet


def test_selection() -> None:
    pk = select_outlets(["PK"], [])
    assert pk and all(o.country == "PK" and o.enabled for o in pk)
    assert select_outlets([], []) == []
    assert [o.id for o in select_outlets(["pakistan-today"], [])] == ["pakistan-today"]
    assert "pakistan-today" not in {o.id for o in select_outlets(["all"], [])}
    own = Outlet(id="dawn", name="My Dawn", feeds=["https://example.org/feed"])
    chosen = {o.id: o for o in select_outlets(["all"], [own])}
    assert chosen["dawn"].name == "My Dawn"
