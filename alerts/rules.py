"""Keyword rules: whole-word, script-aware term matching. Pure code, no I/O.

A term matches as a whole word or phrase, never inside a longer word ("TTP" never inside
"https"). Terms written in capitals are acronyms and match case-sensitively; other terms
match case-insensitively with hyphens and runs of white space treated alike. Text and terms
are NFKC-normalised first, so any script works. `regex` is used instead of `re` because its
Unicode classes know that Devanagari and Bengali vowel signs (category M) belong to a word.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import regex

from storage.textnorm import fold

_WORD = r"[\p{L}\p{M}\p{N}_]"
_SEPARATOR = r"[\s\-\u2010-\u2015\u2212]+"
_URL = regex.compile(r"(?:https?://|www\.)[^\s<>\"']+", regex.IGNORECASE)


class TopicRule(Protocol):
    """What the matcher needs of a topic (crawler.config.Topic satisfies it)."""

    id: str
    name: str
    terms: list[str]
    context: list[str]
    exclude: list[str]
    weight: float


def normalise(text: str) -> str:
    """NFKC plus Urdu letter-variant folding: the form both terms and text are matched in."""
    return fold(text)


def is_acronym(term: str) -> bool:
    """A term written in capitals ("TTP", "FATF") is an acronym and matches case-sensitively."""
    letters = [c for c in term if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def term_pattern(term: str) -> "regex.Pattern[str]":
    """The whole-word pattern for one term, phrase or context word."""
    words = [w for w in regex.split(_SEPARATOR, normalise(term).strip()) if w]
    body = _SEPARATOR.join(regex.escape(w) for w in words)
    flags = 0 if is_acronym(term) else regex.IGNORECASE
    return regex.compile(rf"(?<!{_WORD}){body}(?!{_WORD})", flags)


def _exclude_pattern(phrase: str) -> "regex.Pattern[str]":
    # An excluded phrase often defines its own acronym: "tactics, techniques and procedures
    # (TTPs)". The acronym in brackets right after it is excluded with it.
    base = term_pattern(phrase).pattern
    return regex.compile(base + r"(?:\s*\(\s*\p{Lu}[\p{Lu}\p{N}]*s?\s*\))?", regex.IGNORECASE)


def strip_urls(text: str) -> str:
    """Blank out URLs (same length) so "/ttp-attack" in a link is not a mention."""
    return _URL.sub(lambda m: " " * len(m.group()), text)


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
class _CompiledTerm:
    term: str
    pattern: "regex.Pattern[str]"
    acronym: bool


class CompiledTopic:
    """One topic's patterns, compiled once and reused for every article."""

    def __init__(self, topic: TopicRule) -> None:
        self.id = topic.id
        self.name = topic.name
        self.weight = topic.weight
        terms = sorted(topic.terms, key=lambda t: len(normalise(t)), reverse=True)
        self.terms = [_CompiledTerm(t, term_pattern(t), is_acronym(t)) for t in terms]
        self.context = [term_pattern(c) for c in topic.context]
        self.exclude = [_exclude_pattern(p) for p in topic.exclude]

    def match(self, title: str, text: str) -> list[TermMatch]:
        """Count every term in an already normalised, URL-free title and text."""
        title, text = self._mask_excluded(title), self._mask_excluded(text)
        has_context = not self.context or any(
            p.search(title) or p.search(text) for p in self.context
        )
        found = []
        for term in self.terms:
            if term.acronym and not has_context:
                continue
            # Longer terms go first and are blanked out, so "FATF grey list" is not also
            # counted as "grey list".
            title, n_title = _count_and_mask(term.pattern, title)
            text, n_text = _count_and_mask(term.pattern, text)
            if n_title or n_text:
                found.append(TermMatch(self.id, term.term, n_title, n_text))
        return found

    def _mask_excluded(self, text: str) -> str:
        for pattern in self.exclude:
            text = pattern.sub(lambda m: " " * len(m.group()), text)
        return text


def _count_and_mask(pattern: "regex.Pattern[str]", text: str) -> tuple[str, int]:
    masked, count = pattern.subn(lambda m: " " * len(m.group()), text)
    return masked, count


class RuleSet:
    """All topics, compiled; `match` is the one entry point the pipeline and CLI use."""

    def __init__(self, topics: Iterable[TopicRule]) -> None:
        self.topics = [CompiledTopic(t) for t in topics]

    def match(self, title: str, text: str) -> list[TermMatch]:
        """Every term of every topic found in this article."""
        title = strip_urls(normalise(title or ""))
        text = strip_urls(normalise(text or ""))
        found: list[TermMatch] = []
        for topic in self.topics:
            found.extend(topic.match(title, text))
        return found

    def weights(self) -> dict[str, float]:
        return {t.id: t.weight for t in self.topics}

    def names(self) -> dict[str, str]:
        return {t.id: t.name for t in self.topics}

    def highlight_patterns(
        self, topic_ids: Sequence[str] | None = None
    ) -> list["regex.Pattern[str]"]:
        """Term patterns to mark matches in a snippet or an email."""
        return [
            term.pattern
            for topic in self.topics
            if topic_ids is None or topic.id in topic_ids
            for term in topic.terms
        ]
