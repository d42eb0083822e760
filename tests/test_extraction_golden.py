"""Extraction measured on real South Asian pages; a change that lowers a number fails here.

Measured with trafilatura 2.3.1 (see README): date exact match 20/22, body token F1 0.99
over 12 pages, title exact match 3/3. The pages are in ../shared/realworld: without them these
tests skip, unless MEDIAWATCH_REQUIRE_GOLDEN=1 (as in CI), which makes their absence a failure.
"""

from pathlib import Path

import pytest

from tests.conftest import GOLDEN_FILES, need_golden
from tests.golden import Scores, measure


@pytest.fixture(scope="module")
def scores() -> Scores:
    need_golden()
    return measure()


def test_publication_dates(scores: Scores) -> None:
    assert scores.date_n == 22
    assert scores.date_exact >= 0.90


def test_body_text(scores: Scores) -> None:
    assert scores.body_n == 12
    assert scores.body_f1 >= 0.97


def test_titles(scores: Scores) -> None:
    assert scores.title_exact == 1.0


def test_a_missing_golden_set_fails_when_required(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        need_golden(tmp_path / "realworld", required=True)
    assert str(tmp_path / "realworld") in str(failed.value)
    assert "MEDIAWATCH_REQUIRE_GOLDEN=1" in str(failed.value)


def test_a_missing_golden_set_skips_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "htmldate").mkdir()
    (tmp_path / "htmldate" / "expected.json").write_text("[]")
    with pytest.raises(pytest.skip.Exception) as skipped:
        need_golden(tmp_path, required=False)
    assert "(missing aeb/ground-truth.json, fundus/expected.json)" in str(skipped.value)


def test_a_complete_golden_set_is_used(tmp_path: Path) -> None:
    for name in GOLDEN_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    assert need_golden(tmp_path, required=True) == tmp_path
