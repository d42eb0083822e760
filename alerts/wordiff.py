"""Word-level differences between two versions of an article, for the page and the email.

Pure (difflib, bounded by storage.versions.word_opcodes; no I/O): the text is split into words
with their trailing white space, so the pieces joined again give back each version exactly,
paragraphs included. Whoever shows the pieces escapes them (Jinja2's autoescape does).
"""

import re
from dataclasses import dataclass
from typing import Literal

from storage.versions import word_opcodes

_TOKEN = re.compile(r"\s*\S+\s*|\s+")
# Words of unchanged text kept on each side of a change in a passage
CONTEXT_WORDS = 12
MAX_PASSAGES = 10
# An email quotes passages: an edit that adds a whole page, or changes every other word of
# it, must not make a message of megabytes. Text of one change, and changes in one passage:
MAX_PIECE_CHARS = 1_000
MAX_PASSAGE_PIECES = 100

Op = Literal["same", "del", "ins"]


@dataclass(frozen=True)
class Piece:
    """A run of text that both versions share (same), only the old one has (del), or only the
    new one has (ins)."""

    op: Op
    text: str


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def word_diff(old: str, new: str) -> list[Piece]:
    """The pieces that turn `old` into `new`, word by word (white space alone is no change)."""
    a, b = _tokens(old), _tokens(new)
    # Bounded (storage.versions.MAX_DIFF_CELLS): difflib alone is quadratic in the words.
    pieces: list[Piece] = []
    for op, i1, i2, j1, j2 in word_opcodes([t.strip() for t in a], [t.strip() for t in b]):
        if op == "equal":
            pieces.append(Piece("same", "".join(b[j1:j2])))
            continue
        if i2 > i1:
            pieces.append(Piece("del", "".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(Piece("ins", "".join(b[j1:j2])))
    return pieces


def changed(pieces: list[Piece]) -> bool:
    """Whether any piece is an insertion or a deletion."""
    return any(p.op != "same" for p in pieces)


def passages(
    pieces: list[Piece], context: int = CONTEXT_WORDS, limit: int = MAX_PASSAGES
) -> list[list[Piece]]:
    """The changed passages only: each change with up to `context` unchanged words either
    side ("…" where text is left out), changes closer than twice that in one passage; at
    most `limit` passages."""
    out: list[list[Piece]] = []
    current: list[Piece] | None = None
    head: Piece | None = None  # the words before the next change
    for n, piece in enumerate(pieces):
        if piece.op != "same":
            if current is None:
                current = [head] if head else []
            current.append(piece)
            continue
        words = _tokens(piece.text)
        last = n == len(pieces) - 1
        if current is not None:
            if len(words) <= 2 * context and not last:
                current.append(piece)  # a short gap: the next change joins this passage
                continue
            cut = "…" if len(words) > context else ""
            current.append(Piece("same", "".join(words[:context]) + cut))
            out.append(current)
            current = None
        cut = "…" if len(words) > context else ""
        head = Piece("same", cut + "".join(words[-context:]))
    if current is not None:
        out.append(current)
    return [_bounded(passage) for passage in out[:limit]]


def _bounded(passage: list[Piece]) -> list[Piece]:
    """A passage cut to MAX_PASSAGE_PIECES pieces of at most MAX_PIECE_CHARS each ("…")."""
    kept = [
        p if len(p.text) <= MAX_PIECE_CHARS else Piece(p.op, p.text[:MAX_PIECE_CHARS] + "…")
        for p in passage[:MAX_PASSAGE_PIECES]
    ]
    if len(passage) > MAX_PASSAGE_PIECES:
        kept.append(Piece("same", " …"))
    return kept
