"""An article's title and text, read against the rules: its term matches and its score.

`assess` is the one way a page becomes a scored article, so the crawl, `rules explain`, the
benchmark and the tests cannot score the same page differently. Pure code, no I/O.
"""

from dataclasses import dataclass

from alerts.rules import RuleSet, TermMatch
from alerts.scoring import Score, score_matches


@dataclass(frozen=True)
class Assessment:
    """Every term found in an article and the score they earn it, topic by topic."""

    matches: list[TermMatch]
    score: Score

    @property
    def total(self) -> float:
        return self.score.total


def assess(title: str, text: str, rules: RuleSet) -> Assessment:
    """Match the rules' terms and score them: the one path from a page to its score."""
    matches = rules.match(title, text)
    return Assessment(matches, score_matches(matches, rules.weights()))
