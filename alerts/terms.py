"""What one term means in a text: whole words, acronyms case-sensitive, any script. Pure code.

A term matches as a whole word or phrase, never inside a longer word ("TTP" never inside
"https"). Terms written in capitals are acronyms and match case-sensitively; other terms
match case-insensitively with hyphens and runs of white space treated alike. Text and terms
are NFKC-normalised and Urdu letter variants folded first, so any script works. `regex` is
used instead of `re` because its Unicode classes know that Devanagari and Bengali vowel signs
(category M) belong to a word. Topic terms (alerts.rules) and query terms (alerts.query) both
follow these rules, so a term means the same in a topic, a query and a search.
"""

import regex

from storage.querylang import SEPARATOR
from storage.textnorm import WORD_CHARS, fold, prepare, split_words, strip_urls

__all__ = ["WORD_CHARS", "prepare", "split_words", "strip_urls"]


def normalise(text: str) -> str:
    """NFKC plus Urdu letter-variant folding: the form both terms and text are matched in."""
    return fold(text)


def is_acronym(term: str) -> bool:
    """A term written in capitals ("TTP", "FATF") is an acronym and matches case-sensitively."""
    letters = [c for c in term if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def term_words(term: str) -> list[str]:
    """The term split where white space or hyphens separate it (punctuation stays)."""
    return [w for w in regex.split(SEPARATOR, normalise(term).strip()) if w]


def term_pattern(term: str) -> "regex.Pattern[str]":
    """The whole-word pattern for one term, phrase or context word."""
    body = SEPARATOR.join(regex.escape(w) for w in term_words(term))
    flags = 0 if is_acronym(term) else regex.IGNORECASE
    return regex.compile(rf"(?<!{WORD_CHARS}){body}(?!{WORD_CHARS})", flags)


def prefix_pattern(stem: str) -> "regex.Pattern[str]":
    """A word starting with `stem` ("terror" finds "terrorism"); capitals are case-sensitive."""
    flags = 0 if is_acronym(stem) else regex.IGNORECASE
    body = regex.escape(normalise(stem).strip())
    return regex.compile(rf"(?<!{WORD_CHARS}){body}{WORD_CHARS}*", flags)


def exclude_pattern(phrase: str) -> "regex.Pattern[str]":
    """An excluded phrase, with the acronym it often defines right after it in brackets:
    "tactics, techniques and procedures (TTPs)" is excluded whole."""
    base = term_pattern(phrase).pattern
    return regex.compile(base + r"(?:\s*\(\s*\p{Lu}[\p{Lu}\p{N}]*s?\s*\))?", regex.IGNORECASE)
