"""Milliseconds that one rule set of many terms takes to read one article.

Run by hand: python -m benchmarks.rules [TERMS] (default 10000). Builds TERMS terms over 100
topics (one, two and three words; a tenth of them acronyms, a third of the topics with context
words and an exclusion, five with a NEAR query) from a vocabulary of made-up words, and an
800-word article in which one word in ten comes from that vocabulary (the rest from a set of
common words no term uses), so that dozens of terms are found, as in a busy news article.
Times `RuleSet.match` (normalising, URL blanking, every topic) and prints

    rules: terms=10000 median_ms=X p95_ms=Y matches=Z
"""

import random
import statistics
import sys
import time

from alerts.rules import RuleSet
from crawler.config import Topic

TOPICS = 100
ARTICLE_WORDS = 800
RUNS = 200


def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    """Made-up words of 3 to 10 letters."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(size)}
    return sorted(words)


def rule_set(terms: int, words: list[str], rng: random.Random) -> RuleSet:
    """`terms` terms spread over TOPICS topics."""
    topics = []
    per_topic = max(terms // TOPICS, 1)
    for t in range(TOPICS):
        chosen = []
        for _ in range(per_topic):
            term = " ".join(rng.choices(words, k=rng.choice([1, 1, 2, 2, 3])))
            chosen.append(term.upper() if rng.random() < 0.1 else term)
        gated = t % 3 == 0
        topics.append(
            Topic(
                id=f"t{t}",
                name=f"Topic {t}",
                terms=chosen,
                context=rng.sample(words, 5) if gated else [],
                exclude=[" ".join(rng.sample(words, 3))] if gated else [],
                query=f"{words[t]} NEAR/10 ({words[t + 1]} OR {words[t + 2]}*)" if t < 5 else None,
            )
        )
    return RuleSet(topics)


def article(words: list[str], rng: random.Random) -> tuple[str, str]:
    """A title and an 800-word text: common words, and one in ten from the terms' vocabulary."""
    common = [f"w{n}" for n in range(300)]
    text = []
    for i in range(ARTICLE_WORDS):
        word = rng.choice(words) if rng.random() < 0.1 else rng.choice(common)
        text.append(word.upper() if rng.random() < 0.03 else word)
        if i % 15 == 14:
            text[-1] += "."
    return " ".join(rng.choices(common, k=6) + rng.choices(words, k=2)), " ".join(text)


def main(terms: int = 10_000) -> None:
    rng = random.Random(12)
    words = vocabulary(rng)
    rules = rule_set(terms, words, rng)
    title, text = article(words, rng)
    rules.match(title, text)  # warm up
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        found = rules.match(title, text)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(
        f"rules: terms={terms} median_ms={statistics.median(times):.3f} "
        f"p95_ms={times[int(len(times) * 0.95)]:.3f} matches={len(found)}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
