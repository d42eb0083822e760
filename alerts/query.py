"""Topic queries: a parsed query (storage.querylang) compiled once, run on articles. Pure code.

Each term of a query is matched as a topic term is (alerts.terms: whole words, acronyms in
capitals case-sensitive, NFKC and Urdu folding, URLs ignored). `a NEAR/n b` holds when an
occurrence of a and one of b, in the same field (title or text), have at most n words between
them, in either order; an occurrence of a NEAR is the stretch from the first word of the pair
to the last, so NEARs chain. `title:` terms count only in the title.

The same compiled query confirms search candidates (crawler.archive), so a query finds in
the archive exactly what a topic with that query matches.
"""

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import regex

from alerts.terms import prefix_pattern, prepare, split_words, term_pattern
from storage.querylang import (
    And,
    Near,
    Node,
    Not,
    Or,
    Term,
    parse_query,
    positive_terms,
    relaxed,
)

CONTEXT_WORDS = 6
SHOWN = 3  # occurrences shown in context per clause
MAX_PAIRS = 10_000


@dataclass(frozen=True)
class Span:
    """Where a term (or a NEAR pair) occurs: field, first and last word, characters."""

    field: str
    first: int
    last: int
    start: int
    end: int


class _Field:
    """One normalised, URL-free field, with word positions computed when first needed."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self._starts: list[int] | None = None
        self._ends: list[int] = []

    def starts(self) -> list[int]:
        if self._starts is None:
            offsets = list(accumulate(map(len, split_words(self.text)), initial=0))
            self._starts, self._ends = offsets[1:-1:2], offsets[2:-1:2]
        return self._starts

    def span(self, start: int, end: int) -> Span:
        starts = self.starts()
        first = max(bisect.bisect_right(starts, start) - 1, 0)
        last = max(bisect.bisect_right(starts, end - 1) - 1, first)
        return Span(self.name, first, last, start, end)

    def context(self, span: Span, words: int = CONTEXT_WORDS) -> str:
        """The words around `span`, the matched stretch in [brackets]."""
        starts = self.starts()
        lo = starts[max(span.first - words, 0)] if starts else 0
        hi_index = min(span.last + words, len(starts) - 1)
        hi = self._ends[hi_index] if starts else len(self.text)
        before, inner, after = (
            self.text[lo : span.start],
            self.text[span.start : span.end],
            self.text[span.end : max(hi, span.end)],
        )
        shown = " ".join(f"{before}[{inner}]{after}".split())
        return ("…" if lo > 0 else "") + shown + ("…" if hi < len(self.text) else "")


class Prepared:
    """An article's title and text as queries read them (normalised, URLs blanked), shared
    by every query of a rule set so that the words are found once."""

    def __init__(self, title: str, text: str) -> None:
        self.title = title
        self.text = text
        self.fields = (_Field("title", title), _Field("text", text))

    @classmethod
    def of(cls, title: str | None, text: str | None) -> "Prepared":
        """From a raw title and text."""
        return cls(prepare(title), prepare(text))


def _pattern(term: Term) -> "regex.Pattern[str]":
    return prefix_pattern(term.text) if term.prefix else term_pattern(term.text)


@dataclass
class Clause:
    """How one clause of a query fared on an article, for `rules explain`."""

    clause: str
    matched: bool
    contexts: list[tuple[str, str]] = field(default_factory=list)  # (field, words in context)
    clauses: list["Clause"] = field(default_factory=list)
    occurrences: int = 0  # of a term or a NEAR; the first SHOWN are in `contexts`

    def as_json(self) -> dict[str, Any]:
        """{"clause", "matched", "occurrences", "contexts": [{"field", "text"}], "clauses"}."""
        return {
            "clause": self.clause,
            "matched": self.matched,
            "occurrences": self.occurrences,
            "contexts": [{"field": f, "text": t} for f, t in self.contexts],
            "clauses": [c.as_json() for c in self.clauses],
        }

    def lines(self, indent: int = 0) -> Iterator[str]:
        """The clause tree as text: ✓ or ✗, the clause, its first occurrences in context."""
        mark = "✓" if self.matched else "✗"
        yield f"{'  ' * indent}{mark} {self.clause}"
        for where, words in self.contexts:
            yield f"{'  ' * (indent + 2)}{where}: {words}"
        if self.occurrences > len(self.contexts):
            yield f"{'  ' * (indent + 2)}(and {self.occurrences - len(self.contexts)} more)"
        for child in self.clauses:
            yield from child.lines(indent + 1)


class _Run:
    """One query on one article: occurrences computed once per term, on demand."""

    def __init__(self, query: "CompiledQuery", article: Prepared) -> None:
        self.query = query
        self.fields = article.fields
        self.found: dict[Term, list[Span]] = {}

    def spans(self, term: Term) -> list[Span]:
        if term not in self.found:
            pattern = self.query.patterns[term]
            fields = self.fields[:1] if term.title else self.fields
            self.found[term] = [f.span(*m.span()) for f in fields for m in pattern.finditer(f.text)]
        return self.found[term]

    def holds(self, node: Node) -> bool:
        if isinstance(node, Term):
            if node in self.found:
                return bool(self.found[node])
            # Whether it occurs at all needs no word positions (only NEAR does).
            pattern = self.query.patterns[node]
            fields = self.fields[:1] if node.title else self.fields
            return any(pattern.search(f.text) for f in fields)
        if isinstance(node, Not):
            return not self.holds(node.item)
        if isinstance(node, And):
            return all(self.holds(i) for i in node.items)
        if isinstance(node, Or):
            return any(self.holds(i) for i in node.items)
        return bool(self.places(node, limit=1))  # one pair will do

    def places(self, node: Node, limit: int = MAX_PAIRS) -> list[Span]:
        """Where a NEAR side occurs: a term's spans, an OR's union, a NEAR's pairs."""
        if isinstance(node, Term):
            return self.spans(node)
        if isinstance(node, Or):
            return [s for i in node.items for s in self.places(i)]
        if isinstance(node, Near):
            left, right = self.places(node.left), self.places(node.right)
            return _pairs(left, right, node.distance, limit)
        return []  # the parser allows nothing else inside NEAR

    def explain(self, node: Node) -> Clause:
        matched = self.holds(node)
        if isinstance(node, Term | Near):
            spans = self.places(node)
            where = {f.name: f for f in self.fields}
            contexts = [(s.field, where[s.field].context(s)) for s in spans[:SHOWN]]
            children = (
                [self.explain(node.left), self.explain(node.right)]
                if isinstance(node, Near)
                else []
            )
            return Clause(describe(node), matched, contexts, children, len(spans))
        if isinstance(node, Not):
            inner = self.explain(node.item)
            return Clause(describe(node), matched, [], [inner])
        return Clause(describe(node), matched, [], [self.explain(i) for i in node.items])


def _pairs(left: list[Span], right: list[Span], distance: int, limit: int) -> list[Span]:
    """Stretches where a left and a right occurrence, apart and in one field, have at most
    `distance` words between them (the first `limit` of them: "the NEAR/1000 the" over a
    long text would otherwise make millions)."""
    out: list[Span] = []
    by_first = sorted(right, key=lambda s: (s.field, s.first))
    firsts = [(s.field, s.first) for s in by_first]
    widest = max((s.last - s.first for s in right), default=0)
    for a in left:
        lo = bisect.bisect_left(firsts, (a.field, a.first - distance - 1 - widest))
        hi = bisect.bisect_right(firsts, (a.field, a.last + distance + 1))
        for b in by_first[lo:hi]:
            if b.last < a.first:
                gap = a.first - b.last - 1
            elif b.first > a.last:
                gap = b.first - a.last - 1
            else:
                continue  # one word cannot be both sides
            if gap <= distance:
                first, last = (a, b) if a.first < b.first else (b, a)
                out.append(Span(a.field, first.first, last.last, first.start, last.end))
                if len(out) >= limit:
                    return out
    return out


def describe(node: Node) -> str:
    """The clause written back in the query language (parentheses only where needed)."""
    if isinstance(node, Term):
        return node.label
    if isinstance(node, Not):
        return "-" + _grouped(node.item, Term)
    if isinstance(node, Near):
        left, right = _grouped(node.left, Term), _grouped(node.right, Term)
        return f"{left} NEAR/{node.distance} {right}"
    if isinstance(node, Or):
        return " OR ".join(describe(i) for i in node.items)
    return " ".join(_grouped(i, Term | Not | Near) for i in node.items)


def _grouped(node: Node, bare: Any) -> str:
    return describe(node) if isinstance(node, bare) else f"({describe(node)})"


@dataclass(frozen=True)
class Mention:
    """How often one positive term of a query occurs in the title and in the text."""

    term: str
    title_count: int
    text_count: int


class CompiledQuery:
    """A query's term patterns, compiled once; `matches` on an article, `mentions` to score."""

    def __init__(self, query: str | Node) -> None:
        self.node = parse_query(query) if isinstance(query, str) else query
        self.source = query if isinstance(query, str) else describe(query)
        terms = positive_terms(self.node)
        self.patterns: dict[Term, regex.Pattern[str]] = {}
        self._collect(self.node)
        # Longer terms count first and hide the shorter ones inside them, as topic terms do.
        unique = {t.label: t for t in terms}
        self.counted = sorted(unique.values(), key=lambda t: len(t.text), reverse=True)
        self._needed = relaxed(self.node)

    def _collect(self, node: Node) -> None:
        if isinstance(node, Term):
            self.patterns.setdefault(node, _pattern(node))
        elif isinstance(node, Not):
            self._collect(node.item)
        elif isinstance(node, Near):
            self._collect(node.left)
            self._collect(node.right)
        else:
            for item in node.items:
                self._collect(item)

    def matches(self, title: str | None, text: str | None) -> bool:
        """Whether a raw title and text match (for search candidates).

        An ASCII article that lacks a word of the query, even inside another word and in
        any case, cannot match: told so by a look for the lowered words (a few µs), not by
        folding and reading it (40 µs). Most candidates of a word sharing its stem with a
        commoner one ("buttons", found by PostgreSQL as 'button') are such articles."""
        title, text = title or "", text or ""
        ascii_only = title.isascii() and text.isascii()
        if ascii_only and not _may_hold(self._needed, f"{title}\n{text}".lower()):
            return False
        return self.holds(Prepared.of(title, text))

    def holds(self, article: Prepared) -> bool:
        """Whether a prepared article matches."""
        return _Run(self, article).holds(self.node)

    def explain(self, article: Prepared) -> Clause:
        """Each clause, whether it matched, and its matched words in context."""
        return _Run(self, article).explain(self.node)

    def mentions(self, article: Prepared) -> list[Mention]:
        """Counts of the positive terms (all of them, matched or not), longest first, each
        mention counted once."""
        title, text = article.title, article.text
        out = []
        for term in self.counted:
            pattern = self.patterns[term]
            title, n_title = pattern.subn(_blank, title)
            n_text = 0
            if not term.title:
                text, n_text = pattern.subn(_blank, text)
            if n_title or n_text:
                out.append(Mention(term.label, n_title, n_text))
        return out


def _may_hold(node: Node | None, lowered: str) -> bool:
    """Whether lowered ASCII text holds every word that the relaxed query's positive side
    needs, as a substring: false means the query cannot match it. A term with a letter
    beyond ASCII may match ASCII text through folding ("ﬁnance", "K" for "K"): kept."""
    if node is None or isinstance(node, Not):
        return True
    if isinstance(node, Near):
        return _may_hold(node.left, lowered) and _may_hold(node.right, lowered)
    if isinstance(node, Term):
        if not node.text.isascii():
            return True
        return all(w in lowered for w in _ASCII_WORD.findall(node.text.lower()))
    if isinstance(node, Or):
        return any(_may_hold(i, lowered) for i in node.items)
    return all(_may_hold(i, lowered) for i in node.items)


_ASCII_WORD = regex.compile(r"[a-z0-9_]+")


def _blank(m: "regex.Match[str]") -> str:
    return " " * len(m.group())
