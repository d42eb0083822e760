"""The query language of search and topic rules, parsed once, rendered per database.

    words            all of them (AND is implied; "AND" may be written)
    "exact phrase"   the words in that order
    a OR b           either
    -word, -"a b"    without it (also NOT word)
    ( ... )          grouping
    a NEAR/n b       a and b at most n words apart, in either order (binds tightest)
    terror*          a word starting with "terror" (at least 3 letters before the star)
    title:word       the word (or title:"phrase", title:prefix*) in the title

The rule matcher (alerts.query) decides what a query matches. A database renders only the
query's positive side, relaxed (NEAR as AND, no exclusions), to narrow the candidates the
matcher then confirms, so search and topics mean the same thing.

User input never reaches SQL text: terms are rendered as quoted strings and passed as
bound parameters. Anything malformed, too long, nested too deeply or holding more
than MAX_TERMS terms is a QuerySyntaxError saying what to fix (never a RecursionError or a
database error). A term or group repeated in one AND or OR is merged while parsing ("a AND a"
means "a"), so no repeat reaches a database, the matcher or the snippets.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

import regex

from storage.textnorm import fold


class QuerySyntaxError(ValueError):
    """The query cannot be parsed; the message says why, for the user."""


@dataclass(frozen=True)
class Term:
    """A word or an exact phrase; a word may be a prefix; either may be bound to the title."""

    text: str
    phrase: bool = False
    prefix: bool = False
    title: bool = False

    @property
    def label(self) -> str:
        """The term as it would be written in a query (for scores and explanations)."""
        body = f'"{self.text}"' if self.phrase else self.text + ("*" if self.prefix else "")
        return ("title:" if self.title else "") + body


@dataclass(frozen=True)
class Not:
    """An excluded term or group."""

    item: "Node"


@dataclass(frozen=True)
class And:
    """All of these."""

    items: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    """Any of these."""

    items: tuple["Node", ...]


@dataclass(frozen=True)
class Near:
    """Both sides within `distance` words of each other (words between them), either order."""

    left: "Node"
    right: "Node"
    distance: int


Node = Term | Not | And | Or | Near
# Bounds that keep parsing, rendering and the database's own parser far from their limits
# (Python's recursion limit, FTS5's expression depth); no real query comes near them.
MAX_QUERY_LENGTH = 10_000
MAX_DEPTH = 32
# Terms a query may hold, a term repeated in one AND or OR counted once (repeats are merged).
# ts_headline, FTS5 and the matcher slow down faster than linearly with a query's terms (the
# attacker review: 1,400 words tied PostgreSQL up for 56 s on a 9-article archive); a real
# topic query holds tens of terms, a long analyst's query about a hundred.
MAX_TERMS = 200
MAX_NEAR = 1000
MIN_PREFIX = 3
# Control characters (NUL above all: PostgreSQL refuses it in text) only ever separate words.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TOKEN = re.compile(r'\s*(?:(-)?(title:)?"([^"]*)("?)|(-)?(\()|(\))|(-)?([^\s()"]+))')
_NEAR = re.compile(r"NEAR(?:/(\S*))?")
# What separates the words of a phrase or term (alerts.terms matches any run of these alike).
SEPARATOR = r"[\s\-\u2010-\u2015\u2212]+"
SEPARATOR_RE = regex.compile(SEPARATOR)
# Letters with their combining marks: Python's \w would cut Hindi words at vowel signs.
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}_]+")

Token = tuple[str, str, bool]  # kind, value, bound to the title


def _tokens(query: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    query = _CONTROL.sub(" ", query).strip()
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if not m or m.end() == pos:
            raise QuerySyntaxError(f"cannot read the query at {query[pos : pos + 10]!r}")
        pos = m.end()
        neg_phrase, title_phrase, phrase, closed, neg_group, lpar, rpar, neg_word, word = m.groups()
        if phrase is not None:
            if not closed:
                raise QuerySyntaxError('a phrase is missing its closing quote (")')
            if neg_phrase:
                out.append(("NOT", "", False))
            out.append(("PHRASE", phrase, bool(title_phrase)))
        elif lpar:
            if neg_group:
                out.append(("NOT", "", False))
            out.append(("(", "", False))
        elif rpar:
            out.append((")", "", False))
        elif neg_word:
            out.append(("NOT", "", False))
            out.append(_word(word))
        elif word == "OR":
            out.append(("OR", "", False))
        elif word == "AND":
            continue
        elif word == "NOT":
            out.append(("NOT", "", False))
        elif near := _NEAR.fullmatch(word):
            if not (near.group(1) or "").isascii() or not (near.group(1) or "").isdigit():
                raise QuerySyntaxError("NEAR needs a distance in words, e.g. TTP NEAR/10 attack")
            digits = near.group(1)
            distance = int(digits) if len(digits) <= 7 else MAX_NEAR + 1
            if distance > MAX_NEAR:
                raise QuerySyntaxError(f"NEAR/{digits:.10}: the distance is at most {MAX_NEAR}")
            out.append(("NEAR", str(distance), False))
        else:
            out.append(_word(word))
    return out


def _word(word: str) -> Token:
    if word.startswith("title:"):
        word = word[len("title:") :]
        if not word:
            raise QuerySyntaxError('title: needs a word or a "phrase" right after it')
        return ("WORD", word, True)
    return ("WORD", word, False)


class _Parser:
    """Recursive descent over the tokens. `live` counts the terms of the tree built so far,
    less the merged repeats, so that each AND, OR and NEAR chain checks its own size against
    MAX_TERMS as it grows: a bound the whole query is over whenever a part is over it, found
    before a long NEAR chain is deep enough to exhaust Python's stack."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.live = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek() is not None:
            raise QuerySyntaxError("a closing parenthesis has no opening one")
        return node

    def merged(self, items: dict[Node, None], item: Node, start: int) -> None:
        """Keep `item` (its terms counted since `start`) unless it repeats one of `items`:
        a AND a is a, a OR a is a, so the repeat's terms are uncounted."""
        if item in items:
            self.live = start
        else:
            items[item] = None

    def bounded(self, start: int) -> None:
        if self.live - start > MAX_TERMS:
            raise QuerySyntaxError(
                f"the query holds more than {MAX_TERMS} terms (a repeat in one AND or OR "
                "counts once); search for fewer terms, or split the query into several "
                "searches or topics"
            )

    def or_expr(self) -> Node:
        start = self.live
        items: dict[Node, None] = {}
        self.merged(items, self.and_expr(), start)
        while self.peek() == "OR":
            self.take()
            if self.peek() in (None, ")", "OR", "NEAR"):
                raise QuerySyntaxError("OR needs a term on both sides")
            at = self.live
            self.merged(items, self.and_expr(), at)
            self.bounded(start)
        if len(items) > 1 and any(isinstance(item, Not) for item in items):
            raise QuerySyntaxError("an excluded term cannot be one side of OR")
        return next(iter(items)) if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        start = self.live
        items: dict[Node, None] = {}
        if self.peek() in ("OR", "NEAR"):
            raise QuerySyntaxError(f"{self.peek()} needs a term on both sides")
        while self.peek() not in (None, ")", "OR"):
            at = self.live
            self.merged(items, self.near_expr(), at)
            self.bounded(start)
        if not items:
            raise QuerySyntaxError("empty query or empty parentheses")
        if len(items) > 1 and all(isinstance(i, Not) for i in items):
            raise QuerySyntaxError("a query needs at least one word that is not excluded")
        return next(iter(items)) if len(items) == 1 else And(tuple(items))

    def near_expr(self) -> Node:
        start = self.live
        node = self.unary()
        while self.peek() == "NEAR":
            distance = int(self.take()[1])
            if self.peek() in (None, ")", "OR", "NEAR"):
                raise QuerySyntaxError(f"NEAR/{distance} needs a term on both sides")
            node = Near(_near_side(node), _near_side(self.unary()), distance)
            self.bounded(start)
        return node

    def unary(self) -> Node:
        if self.peek() == "NOT":
            self.take()
            if self.peek() in (None, ")", "OR", "NOT", "NEAR"):
                raise QuerySyntaxError("NOT or - needs a term after it")
            item = self.primary()
            if isinstance(item, Not):
                # No search engine we render to can say "not excluded"; write the term itself.
                raise QuerySyntaxError("an excluded group cannot itself be only an exclusion")
            return Not(item)
        return self.primary()

    def primary(self) -> Node:
        kind, value, in_title = self.take()
        if kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QuerySyntaxError(f"parentheses are nested more than {MAX_DEPTH} deep")
            node = self.or_expr()
            if self.peek() != ")":
                raise QuerySyntaxError("an opening parenthesis is never closed")
            self.take()
            self.depth -= 1
            return node
        self.live += 1  # a term: nothing else is built from a single token
        if kind == "PHRASE":
            words = _text(value)
            # Each of a phrase's words is looked up, matched and marked like a term.
            count = len(words.split())
            self.live += max(count - 1, 0)
            self.bounded(self.live - count)  # a phrase alone over the cap
            return Term(words, phrase=True, title=in_title)
        if kind == "WORD":
            if "*" not in value:
                return Term(_text(value), title=in_title)
            stem = value[:-1]
            if not value.endswith("*") or not _WORD.fullmatch(fold(stem)):
                raise QuerySyntaxError(
                    f"{value!r}: * only ends a word, as a prefix (terror* finds terrorism)"
                )
            if len(fold(stem)) < MIN_PREFIX:
                raise QuerySyntaxError(
                    f"{value!r}: a prefix needs at least {MIN_PREFIX} letters before the *"
                )
            return Term(fold(stem), prefix=True, title=in_title)
        raise QuerySyntaxError(f"unexpected {kind!r} in the query")


def _text(value: str) -> str:
    text = fold(value).strip()
    if not _WORD.search(text):
        raise QuerySyntaxError(f"{value!r} has no letters or digits to search for")
    return text


def _near_side(node: Node) -> Node:
    """A side of NEAR is a term, an OR of terms, or another NEAR: each has places in the text
    to measure a distance from. An exclusion or an AND has none."""
    if _has_not(node):
        raise QuerySyntaxError(
            "NOT (or -) cannot be inside NEAR: NEAR measures the distance between two things "
            "that are there; put the exclusion outside, e.g. (TTP NEAR/10 attack) -cricket"
        )
    if isinstance(node, And):
        raise QuerySyntaxError(
            "each side of NEAR is a word, a phrase, a prefix or an OR of them, not an AND "
            '(write a phrase in quotes: "grey list" NEAR/5 FATF)'
        )
    if isinstance(node, Or):
        for item in node.items:
            _near_side(item)
    return node


def _has_not(node: Node) -> bool:
    if isinstance(node, Not):
        return True
    if isinstance(node, Near):
        return _has_not(node.left) or _has_not(node.right)
    if isinstance(node, And | Or):
        return any(_has_not(i) for i in node.items)
    return False


def parse_query(query: str) -> Node:
    """The query as a tree, repeats merged; QuerySyntaxError with a readable message when
    malformed or holding more than MAX_TERMS terms."""
    if len(query) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    node = _Parser(_tokens(query)).parse()
    if isinstance(node, Not):
        raise QuerySyntaxError("a query needs at least one word that is not excluded")
    return node


def positive_terms(node: Node) -> list[Term]:
    """The terms the query's positive side names (not under an exclusion), in order."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return []
    if isinstance(node, Near):
        return positive_terms(node.left) + positive_terms(node.right)
    return [t for i in node.items for t in positive_terms(i)]


def plain_terms(node: Node) -> list[str]:
    """The positive terms' texts, to highlight in snippets."""
    return [t.text for t in positive_terms(node)]


# What a database is asked: the positive side, relaxed so that it finds at least every
# article the matcher accepts. TRUE stands for "no narrowing" (a term the index cannot see).
TRUE = None
Relaxed = Term | And | Or | None


def relaxed(node: Node) -> Relaxed:
    """The positive side with NEAR as AND and exclusions dropped (None: anything may match).

    An exclusion is dropped because the index cannot say "not this exact word": it folds case
    (an excluded acronym TTP would drop a lowercase "ttp" the matcher keeps)."""
    if isinstance(node, Term):
        return node
    if isinstance(node, Not):
        return TRUE
    if isinstance(node, Near):
        return _and([relaxed(node.left), relaxed(node.right)])
    if isinstance(node, Or):
        items = [relaxed(i) for i in node.items]
        return TRUE if any(i is TRUE for i in items) else Or(tuple(i for i in items if i))
    return _and([relaxed(i) for i in node.items])


def _and(items: list[Relaxed]) -> Relaxed:
    kept = [i for i in items if i is not TRUE]
    if not kept:
        return TRUE
    return kept[0] if len(kept) == 1 else And(tuple(kept))


def to_fts5(node: Node) -> str:
    """SQLite FTS5 MATCH syntax. Every term is a quoted string (FTS5 tokenizes it)."""
    if isinstance(node, Term):
        quoted = '"' + node.text.replace('"', '""') + '"' + (" *" if node.prefix else "")
        return f"(title : {quoted})" if node.title else quoted
    if isinstance(node, Or):
        return "(" + " OR ".join(to_fts5(i) for i in node.items) + ")"
    if isinstance(node, Near):
        return f"({to_fts5(node.left)} AND {to_fts5(node.right)})"
    if isinstance(node, And):
        positive = [to_fts5(i) for i in node.items if not isinstance(i, Not)]
        negative = [to_fts5(i.item) for i in node.items if isinstance(i, Not)]
        return "(" + " AND ".join(positive) + "".join(f" NOT {n}" for n in negative) + ")"
    raise QuerySyntaxError("an excluded term needs something to exclude it from")


def index_keys(node: Node) -> tuple[list[str], list[str]]:
    """What a PostgreSQL narrowing asks the database to parse: the words of the positive
    terms (split where the matcher splits them: white space and hyphens) and the prefixes."""
    terms = positive_terms(node)
    words = {w for t in terms if not t.prefix for w in phrase_words(t.text)}
    return sorted(words), sorted({t.text for t in terms if t.prefix})


# PostgreSQL's English index holds each word stemmed (Snowball's Porter2) and no stop word, so
# a prefix looked up there as it was typed misses words: "terroris*" finds no "terrorism"
# (indexed 'terror'), "happy*" no "happyish" ('happy' is asked as 'happi'), "whic*" no
# "which" (not indexed). The stemmer only ever rewrites a word's ending, a run of the
# suffixes of its tables ("nationalization" -> 'nation'); the English lookup cuts off any
# ending of the prefix that could begin such a run, so every word the prefix starts keeps the
# cut prefix in its stem. Checked against PostgreSQL's stemmer by tests/test_query_search.py.
# Step 1 of the stemmer may rewrite a word's end anywhere ("flies" -> 'fli', "hopping" ->
# 'hop', "crying" -> 'cri'); the later steps only rewrite endings that start in its region R1.
_STEP1_ENDINGS = frozenset(
    ["sses", "ied", "ies", "s", "eed", "eedly", "ed", "edly", "ing", "ingly", "y"]
)
# Steps 2 to 5, then what one step leaves for a later one: "-ated" -> "-ate" (step 1b),
# "-ability" -> "-able" (step 2), "-ativity" -> "-ative" (step 2).
_LATER_TABLES = """
    tional enci anci abli entli izer ization ational ation ator alism aliti alli fulness ousli
    ousness iveness iviti biliti bli ogi fulli lessli li
    tional ational alize icate iciti ical ful ness ative
    al ance ence er ic able ible ant ement ment ent ism ate iti ous ive ize ion
    e l
    at bl iz abiliti ibiliti ibli ativiti ativeness
"""
_LATER = _LATER_TABLES.split()
# A final "i" of the tables is a "y" or "ies"/"ied" in the word ("ability", "abilities").
_STEMMED_ENDINGS = _STEP1_ENDINGS | frozenset(
    _LATER + [e[:-1] + y for e in _LATER if e.endswith("i") for y in ("y", "ies", "ied")]
)
_MAX_ENDINGS = 5  # suffixes the stemmer can strip from one word, about one per step
_DOUBLED = "bdfgmnprt"  # "hopping" -> 'hop': the stemmer undoubles these before -ing/-ed
# PostgreSQL's english.stop (Snowball's list): never in the English index.
_ENGLISH_STOP = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom
    this that these those am is are was were be been being have has had having do does did
    doing a an the and but if or because as until while of at by for with about against
    between into through during before after above below to from up down in out on off over
    under again further then once here there when where why how all any both each few more
    most other some such no nor not only own same so than too very s t can will just don
    should now
"""
ENGLISH_STOP_WORDS = frozenset(_ENGLISH_STOP.split())
# Porter2's exceptions whose stem is not a prefix of the word.
_IRREGULAR_STEMS = ("dying", "lying", "tying")


def english_prefix(stem: str) -> str | None:
    """What PostgreSQL's English index is asked for the prefix `stem*` (as `'…':*`): the
    prefix cut before any ending the stemmer may rewrite, so that the lookup finds every
    English article with a word starting with `stem`; None where it can find none of them
    for sure (the prefix starts a stop word, or nothing is left), so English articles are not
    narrowed by it."""
    lower = stem.lower()
    if any(w.startswith(lower) for w in (*ENGLISH_STOP_WORDS, *_IRREGULAR_STEMS)):
        return None
    stem = _cut_endings(stem, whole=False)
    # PostgreSQL stems the cut prefix too, as a word ("cryed" -> 'cri'): cut what it would.
    while (cut := _cut_endings(stem, whole=True)) != stem:
        stem = cut
    return stem or None


def _cut_endings(stem: str, whole: bool) -> str:
    """`stem` without its longest ending that could begin a run the stemmer rewrites (with
    `whole`, that is such a run)."""
    lower = stem.lower()
    region = _region1(lower)
    # No run of endings is longer than this: a longer tail is the word's own.
    for cut in range(max(len(stem) - _MAX_ENDINGS * 8, 0), len(stem)):
        tail, before = lower[cut:], lower[cut - 1 : cut]
        if _run(tail, before, 3, _STEP1_ENDINGS, whole) or (
            cut >= region and _run(tail, before, _MAX_ENDINGS, _STEMMED_ENDINGS, whole)
        ):
            return stem[:cut]
    return stem


def _region1(word: str) -> int:
    """Where Porter2's region R1 starts at the earliest: after the first non-vowel following
    a vowel, a "y" taken for whichever of the two puts it earlier."""
    pairs = (
        i + 2 for i in range(len(word) - 1) if word[i] in "aeiouy" and word[i + 1] not in "aeiou"
    )
    return next(pairs, len(word))


def _run(tail: str, before: str, left: int, endings: frozenset[str], whole: bool) -> bool:
    """Whether `tail` is the start (with `whole`, all) of a run of at most `left` of
    `endings`, the first perhaps a doubled consonant undoubled before -ing or -ed; `before`
    is the letter ahead of `tail`."""
    if left == 0 or not tail:
        return not tail
    doubled = tail[0] == before and tail[0] in _DOUBLED
    if doubled and _run(tail[1:], "", left - 1, endings, whole):
        return True
    for ending in endings:
        if ending == tail or (not whole and ending.startswith(tail)):
            return True
        if tail.startswith(ending) and _run(tail[len(ending) :], "", left - 1, endings, whole):
            return True
    return False


def phrase_words(text: str) -> list[str]:
    """A term's words as the matcher reads them: split at white space and hyphens only."""
    return [w for w in SEPARATOR_RE.split(text) if w]


_LEXEME = re.compile(r"'((?:[^']|'')*)'(:\*)?")


def to_tsquery(node: Node, lexemes: Mapping[str, str] | None = None) -> str:
    """PostgreSQL to_tsquery syntax: & | !, every lexeme single-quoted, prefixes :*, title :A.

    `lexemes` maps each word of index_keys (a prefix as "*stem") to the tsquery PostgreSQL's
    own parser makes of it ("U.S." is 'u.s', "the" nothing: the English index has no stop
    word), so a term is looked up as the index holds it; a term of nothing but stop words is
    "" (no narrowing), so that `the OR list` still finds "the". Without `lexemes`, the words
    are split as the matcher splits them."""
    if isinstance(node, Term):
        if lexemes is None:
            parts = [
                "'" + w.lower().replace("'", "''").replace("\\", "") + "'"
                for w in _WORD.findall(node.text)
            ]
            parts = [p + ":*" for p in parts] if node.prefix else parts
        elif node.prefix:
            parts = [lexemes.get("*" + node.text, "")]
        else:
            parts = [lexemes.get(w, "") for w in phrase_words(node.text)]
        parts = [p for p in parts if p]
        if node.title:
            parts = [
                _LEXEME.sub(lambda m: m.group(0) + ("A" if m.group(2) else ":A"), p) for p in parts
            ]
        # A phrase is its words, not <->: the index keeps no position for a stop word and
        # splits "grey-list" in three, so adjacency would miss what the matcher finds.
        return _join(" & ", [f"({p})" if " " in p else p for p in parts])
    if isinstance(node, Not):
        inner = to_tsquery(node.item, lexemes)
        return "!" + inner if inner else ""
    if isinstance(node, Near):
        return _join(" & ", [to_tsquery(node.left, lexemes), to_tsquery(node.right, lexemes)])
    items = [to_tsquery(i, lexemes) for i in node.items]
    if isinstance(node, Or):
        return "" if any(not p for p in items) else _join(" | ", items)
    return _join(" & ", items)


def _join(op: str, parts: list[str]) -> str:
    kept = [p for p in parts if p]
    if not kept:
        return ""
    return kept[0] if len(kept) == 1 else "(" + op.join(kept) + ")"
