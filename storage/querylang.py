"""The search query language users already know, parsed once, rendered per database.

    words            all of them (AND is implied; "AND" may be written)
    "exact phrase"   the words in that order
    a OR b           either
    -word, -"a b"    without it (also NOT word)
    ( ... )          grouping

User input never reaches SQL text: terms are rendered as quoted strings and passed as
bound parameters. Anything malformed, too long or nested too deeply is a QuerySyntaxError
saying what to fix (never a RecursionError or a database error).
"""

import re
from dataclasses import dataclass

import regex

from storage.textnorm import fold


class QuerySyntaxError(ValueError):
    """The query cannot be parsed; the message says why, for the user."""


@dataclass(frozen=True)
class Term:
    """A word or an exact phrase."""

    text: str
    phrase: bool = False


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


Node = Term | Not | And | Or
# Bounds that keep parsing, rendering and the database's own parser far from their limits
# (Python's recursion limit, FTS5's expression depth); no real query comes near them.
MAX_QUERY_LENGTH = 10_000
MAX_DEPTH = 32
# Control characters (NUL above all: PostgreSQL refuses it in text) only ever separate words.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TOKEN = re.compile(r'\s*(?:(-)?"([^"]*)("?)|(\()|(\))|(-)?([^\s()"]+))')
# Letters with their combining marks: Python's \w would cut Hindi words at vowel signs.
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}_]+")


def _tokens(query: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    query = _CONTROL.sub(" ", query).strip()
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if not m or m.end() == pos:
            raise QuerySyntaxError(f"cannot read the query at {query[pos : pos + 10]!r}")
        pos = m.end()
        neg_phrase, phrase, closed, lpar, rpar, neg_word, word = m.groups()
        if phrase is not None:
            if not closed:
                raise QuerySyntaxError('a phrase is missing its closing quote (")')
            if neg_phrase:
                out.append(("NOT", ""))
            out.append(("PHRASE", phrase))
        elif lpar:
            out.append(("(", ""))
        elif rpar:
            out.append((")", ""))
        elif word == "OR" and not neg_word:
            out.append(("OR", ""))
        elif word in ("AND",) and not neg_word:
            continue
        elif word == "NOT" and not neg_word:
            out.append(("NOT", ""))
        else:
            if neg_word:
                out.append(("NOT", ""))
            out.append(("WORD", word))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek() is not None:
            raise QuerySyntaxError("a closing parenthesis has no opening one")
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.peek() == "OR":
            self.take()
            if self.peek() in (None, ")", "OR"):
                raise QuerySyntaxError("OR needs a term on both sides")
            items.append(self.and_expr())
        if len(items) > 1 and any(isinstance(item, Not) for item in items):
            raise QuerySyntaxError("an excluded term cannot be one side of OR")
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items: list[Node] = []
        if self.peek() == "OR":
            raise QuerySyntaxError("OR needs a term on both sides")
        while self.peek() not in (None, ")", "OR"):
            items.append(self.unary())
        if not items:
            raise QuerySyntaxError("empty query or empty parentheses")
        if len(items) > 1 and all(isinstance(i, Not) for i in items):
            raise QuerySyntaxError("a query needs at least one word that is not excluded")
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        if self.peek() == "NOT":
            self.take()
            if self.peek() in (None, ")", "OR", "NOT"):
                raise QuerySyntaxError("NOT or - needs a term after it")
            item = self.primary()
            if isinstance(item, Not):
                # No search engine we render to can say "not excluded"; write the term itself.
                raise QuerySyntaxError("an excluded group cannot itself be only an exclusion")
            return Not(item)
        return self.primary()

    def primary(self) -> Node:
        kind, value = self.take()
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
        if kind in ("WORD", "PHRASE"):
            text = fold(value).strip()
            if not _WORD.search(text):
                raise QuerySyntaxError(f"{value!r} has no letters or digits to search for")
            return Term(text, phrase=kind == "PHRASE")
        raise QuerySyntaxError(f"unexpected {kind!r} in the query")


def parse_query(query: str) -> Node:
    """The query as a tree; QuerySyntaxError with a readable message when malformed."""
    if len(query) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    node = _Parser(_tokens(query)).parse()
    if isinstance(node, Not):
        raise QuerySyntaxError("a query needs at least one word that is not excluded")
    return node


def to_fts5(node: Node) -> str:
    """SQLite FTS5 MATCH syntax. Every term is a quoted string (FTS5 tokenizes it)."""
    if isinstance(node, Term):
        return '"' + node.text.replace('"', '""') + '"'
    if isinstance(node, Or):
        return "(" + " OR ".join(to_fts5(i) for i in node.items) + ")"
    if isinstance(node, And):
        positive = [to_fts5(i) for i in node.items if not isinstance(i, Not)]
        negative = [to_fts5(i.item) for i in node.items if isinstance(i, Not)]
        return "(" + " AND ".join(positive) + "".join(f" NOT {n}" for n in negative) + ")"
    raise QuerySyntaxError("an excluded term needs something to exclude it from")


def to_tsquery(node: Node) -> str:
    """PostgreSQL to_tsquery syntax: phrases with <->, & | !, every lexeme single-quoted."""
    if isinstance(node, Term):
        words = [w.lower().replace("'", "''").replace("\\", "") for w in _WORD.findall(node.text)]
        inner = " <-> ".join(f"'{w}'" for w in words)
        return f"({inner})" if len(words) > 1 else inner
    if isinstance(node, Not):
        return "!" + to_tsquery(node.item)
    op = " | " if isinstance(node, Or) else " & "
    return "(" + op.join(to_tsquery(i) for i in node.items) + ")"


def plain_terms(node: Node) -> list[str]:
    """The positive terms, to highlight in snippets."""
    if isinstance(node, Term):
        return [node.text]
    if isinstance(node, Not):
        return []
    return [t for i in node.items for t in plain_terms(i)]
