"""Keyword rules: every topic's terms and query, compiled once per rule set. Pure code, no I/O.

Terms follow alerts.terms (whole words, acronyms case-sensitive, NFKC, Urdu folding, URLs
ignored). Within a topic, excluded phrases are never counted, acronyms count only when one of
the context words is there, and a longer term hides the shorter terms inside it ("FATF grey
list" is not also "grey list"). A topic's `query` (alerts.query) matches on its own; a topic
matches when its terms or its query do, and a query match counts the mentions of the terms
the query's positive side names.

Speed: every term of every topic goes into one dictionary keyed by its first word, so an
article is split into words once and each word is looked up once, whatever the number of
terms (10,000 terms over an 800-word article take well under a millisecond; see
benchmarks/rules.py). Only terms that begin or end with punctuation ("(TTP)", "C++") keep a
pattern of their own.
"""

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Protocol

import regex

from alerts.query import Clause, CompiledQuery, Prepared
from alerts.terms import (
    SEPARATOR,
    exclude_pattern,
    is_acronym,
    normalise,
    split_words,
    strip_urls,
    term_pattern,
)

__all__ = [
    "CompiledTopic",
    "RuleSet",
    "TermMatch",
    "TopicRule",
    "is_acronym",
    "normalise",
    "strip_urls",
    "term_pattern",
]

_SEPARATORS = regex.compile(SEPARATOR)
TERM, CONTEXT, EXCLUDE = 0, 1, 2
# An excluded phrase often defines its own acronym: "tactics, techniques and procedures
# (TTPs)". The acronym in brackets right after it is excluded with it.
_DEFINES = regex.compile(r"\s*\(\s*\p{Lu}[\p{Lu}\p{N}]*s?\s*\)", regex.IGNORECASE)


class TopicRule(Protocol):
    """What the matcher needs of a topic (crawler.config.Topic satisfies it; `query` is read
    when the object has one)."""

    id: str
    name: str
    terms: list[str]
    context: list[str]
    exclude: list[str]
    weight: float


@dataclass(frozen=True)
class TermMatch:
    """How often one term of one topic occurs in an article."""

    topic: str
    term: str
    title_count: int
    text_count: int

    @property
    def count(self) -> int:
        return self.title_count + self.text_count

    @property
    def in_title(self) -> bool:
        return self.title_count > 0


@dataclass(frozen=True)
class _Owner:
    topic: int
    role: int
    term: str
    order: tuple[int, int]  # longer terms first, then as configured
    acronym: bool


@dataclass
class _Entry:
    """One distinct term as words: matched by looking its first word up."""

    words: tuple[str, ...]  # lowercased, or as written for an acronym
    gaps: tuple[str, ...]  # what separates the words, separator runs as one space
    acronym: bool
    owners: list[_Owner] = field(default_factory=list)


def _gap(text: str) -> str:
    return _SEPARATORS.sub(" ", text)


def _as_words(term: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """A term's words and the gaps between them; None when it starts or ends with something
    other than a word (it then keeps its own pattern)."""
    parts = split_words(normalise(term).strip())
    if len(parts) < 3 or _gap(parts[0]).strip() or _gap(parts[-1]).strip():
        return None
    return tuple(parts[1::2]), tuple(_gap(g) for g in parts[2:-1:2])


# An occurrence: (owner, field (0 title, 1 text), start, end).
_Hit = tuple[_Owner, int, int, int]


class CompiledTopic:
    """One topic as configured (its terms, context, exclusions and query), compiled."""

    def __init__(self, topic: TopicRule) -> None:
        self.id = topic.id
        self.name = topic.name
        self.weight = topic.weight
        self.terms = list(topic.terms)
        self.context = list(topic.context)
        self.exclude = list(topic.exclude)
        source = getattr(topic, "query", None)
        self.query = CompiledQuery(source) if source else None
        self._patterns: list[regex.Pattern[str]] | None = None

    def highlight_patterns(self) -> list["regex.Pattern[str]"]:
        """The patterns of its terms and its query's positive terms (compiled on first use)."""
        if self._patterns is None:
            self._patterns = [term_pattern(t) for t in self.terms]
            if self.query:
                counted = self.query.counted
                self._patterns += [self.query.patterns[t] for t in counted]
        return self._patterns


class RuleSet:
    """All topics, compiled; `match` is the one entry point the pipeline and CLI use."""

    def __init__(self, topics: Iterable[TopicRule]) -> None:
        self.topics = [CompiledTopic(t) for t in topics]
        self._index: dict[str, list[_Entry]] = {}
        self._own_patterns: list[tuple[regex.Pattern[str], _Owner]] = []
        entries: dict[tuple[tuple[str, ...], tuple[str, ...], bool], _Entry] = {}
        for i, topic in enumerate(self.topics):
            ranked = sorted(
                range(len(topic.terms)), key=lambda k: (-len(normalise(topic.terms[k])), k)
            )
            roles = [(TERM, topic.terms[k], (rank, k)) for rank, k in enumerate(ranked)]
            roles += [(CONTEXT, c, (0, 0)) for c in topic.context]
            roles += [(EXCLUDE, x, (0, 0)) for x in topic.exclude]
            for role, term, order in roles:
                # Exclusions ignore case, as they always have.
                owner = _Owner(i, role, term, order, role != EXCLUDE and is_acronym(term))
                split = _as_words(term)
                if split is None:
                    own = exclude_pattern(term) if role == EXCLUDE else term_pattern(term)
                    self._own_patterns.append((own, owner))
                    continue
                words, gaps = split
                if not owner.acronym:
                    words = tuple(w.lower() for w in words)
                key = (words, gaps, owner.acronym)
                if key not in entries:
                    entries[key] = _Entry(words, gaps, owner.acronym)
                    self._index.setdefault(words[0].lower(), []).append(entries[key])
                entries[key].owners.append(owner)
        for bucket in self._index.values():
            bucket.sort(key=lambda e: -len(e.words))

    def match(self, title: str, text: str) -> list[TermMatch]:
        """Every term of every topic found in this article (a query match adds its terms)."""
        article = Prepared.of(title, text)
        fields = (article.title, article.text)
        hits: dict[int, list[_Hit]] = defaultdict(list)
        for f, content in enumerate(fields):
            self._find(f, content, hits)
        found: list[TermMatch] = []
        for i, topic in enumerate(self.topics):
            rows = self._count(topic, hits[i]) if i in hits else []
            if topic.query and topic.query.holds(article):
                named = {r.term for r in rows}
                rows += [
                    TermMatch(topic.id, m.term, m.title_count, m.text_count)
                    for m in topic.query.mentions(article)
                    if m.term not in named
                ]
            found.extend(rows)
        return found

    def _find(self, f: int, content: str, hits: dict[int, list[_Hit]]) -> None:
        """Every occurrence of every term, context word and exclusion in one field: one
        dictionary look-up per word of the text."""
        parts = split_words(content)
        words = parts[1::2]
        # One lower() for all words (a space never comes out of lowering a word character).
        lower = " ".join(words).lower().split(" ") if words else []
        index = self._index
        count = len(words)
        offsets: list[int] = []
        for k in [k for k, w in enumerate(lower) if w in index]:
            for entry in index[lower[k]]:
                n = len(entry.words)
                if n == 1:
                    if entry.acronym and words[k] != entry.words[0]:
                        continue
                elif k + n > count:
                    continue
                else:
                    seen = words if entry.acronym else lower
                    if tuple(seen[k : k + n]) != entry.words or any(
                        _gap(parts[2 * (k + j)]) != entry.gaps[j - 1] for j in range(1, n)
                    ):
                        continue
                if not offsets:
                    offsets = list(accumulate(map(len, parts), initial=0))
                start, end = offsets[2 * k + 1], offsets[2 * (k + n)]
                for owner in entry.owners:
                    if owner.role == EXCLUDE and (defined := _DEFINES.match(content, end)):
                        hits[owner.topic].append((owner, f, start, defined.end()))
                    else:
                        hits[owner.topic].append((owner, f, start, end))
        for pattern, owner in self._own_patterns:
            for m in pattern.finditer(content):
                hits[owner.topic].append((owner, f, m.start(), m.end()))

    def _count(self, topic: CompiledTopic, hits: list[_Hit]) -> list[TermMatch]:
        """One topic's counts: exclusions, context, then longest terms first."""
        excluded = [(f, s, e) for owner, f, s, e in hits if owner.role == EXCLUDE]
        if excluded:
            hits = [
                h
                for h in hits
                if not any(f == h[1] and s < h[3] and h[2] < e for f, s, e in excluded)
            ]
        has_context = not topic.context or any(h[0].role == CONTEXT for h in hits)
        terms = sorted(
            (h for h in hits if h[0].role == TERM and (has_context or not h[0].acronym)),
            key=lambda h: (h[0].order, h[1], h[2]),
        )
        taken = _Taken()
        counts: dict[str, list[int]] = {}
        for owner, f, start, end in terms:
            if taken.add(f, start, end):
                counts.setdefault(owner.term, [0, 0])[f] += 1
        return [TermMatch(topic.id, term, n[0], n[1]) for term, n in counts.items()]

    def weights(self) -> dict[str, float]:
        return {t.id: t.weight for t in self.topics}

    def names(self) -> dict[str, str]:
        return {t.id: t.name for t in self.topics}

    def explain_queries(self, title: str, text: str) -> dict[str, Clause]:
        """For each topic with a query: its clauses and what each matched, for `rules explain`."""
        article = Prepared.of(title, text)
        return {t.id: t.query.explain(article) for t in self.topics if t.query}

    def highlight_patterns(
        self, topic_ids: Sequence[str] | None = None
    ) -> list["regex.Pattern[str]"]:
        """Term patterns to mark matches in a snippet or an email."""
        return [
            pattern
            for topic in self.topics
            if topic_ids is None or topic.id in topic_ids
            for pattern in topic.highlight_patterns()
        ]


class _Taken:
    """The stretches already counted in each field, disjoint and sorted."""

    def __init__(self) -> None:
        self.starts: tuple[list[int], list[int]] = ([], [])
        self.ends: tuple[list[int], list[int]] = ([], [])

    def add(self, f: int, start: int, end: int) -> bool:
        """Take [start, end) unless it overlaps a stretch already taken."""
        starts, ends = self.starts[f], self.ends[f]
        k = bisect.bisect_left(starts, end)
        if k and ends[k - 1] > start:
            return False
        starts.insert(k, start)
        ends.insert(k, end)
        return True
