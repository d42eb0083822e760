"""Extraction measured on real South Asian pages; a change that lowers a number fails here.

Measured with trafilatura 2.3.1 (see README): date exact match 20/22, body token F1 0.99
over 12 pages, title exact match 3/3.
"""

import pytest

from tests.golden import REALWORLD, measure

pytestmark = pytest.mark.skipif(not REALWORLD.exists(), reason="../shared/realworld not present")


@pytest.fixture(scope="module")
def scores():  # type: ignore[no-untyped-def]
    return measure()


def test_publication_dates(scores) -> None:  # type: ignore[no-untyped-def]
    assert scores.date_n == 22
    assert scores.date_exact >= 0.90


def test_body_text(scores) -> None:  # type: ignore[no-untyped-def]
    assert scores.body_n == 12
    assert scores.body_f1 >= 0.97


def test_titles(scores) -> None:  # type: ignore[no-untyped-def]
    assert scores.title_exact == 1.0
