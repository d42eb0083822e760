"""The score: 0 without matches; more mentions, title mentions and more topics raise it."""

from alerts.assessment import assess
from alerts.rules import RuleSet, TermMatch
from alerts.scoring import score_matches
from crawler.config import Topic

W = {"a": 1.0, "b": 1.0, "heavy": 3.0}


def score(*matches: TermMatch) -> float:
    return score_matches(matches, W).total


def test_no_match_scores_zero() -> None:
    assert score() == 0


def test_one_body_mention_scores_one() -> None:
    assert score(TermMatch("a", "x", 0, 1)) == 1.0


def test_more_mentions_raise_it_less_and_less() -> None:
    one, two, four = (score(TermMatch("a", "x", 0, n)) for n in (1, 2, 4))
    assert one < two < four and (two - one) > (four - two) / 2


def test_title_mentions_weigh_more() -> None:
    assert score(TermMatch("a", "x", 1, 0)) > score(TermMatch("a", "x", 0, 2))


def test_more_topics_raise_it() -> None:
    both = score(TermMatch("a", "x", 0, 1), TermMatch("b", "y", 0, 1))
    assert both > score(TermMatch("a", "x", 0, 1)) * 2


def test_weight_multiplies_the_topic() -> None:
    assert score(TermMatch("heavy", "x", 0, 1)) == 3.0


def test_assess_scores_a_page_with_the_rules_weights() -> None:
    rules = RuleSet([Topic(id="fatf", name="FATF", terms=["FATF"], weight=2.0)])
    page = assess("FATF meets", "The FATF said so.", rules)
    assert page.matches == [TermMatch("fatf", "FATF", 1, 1)]
    assert page.total == 2.0 * (1 + 2 * 1)  # w × (log2(1+1) + 2 × log2(1+1))
    assert assess("Weather", "Sunny.", rules).total == 0
