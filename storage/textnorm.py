"""Text folding shared by keyword rules, the search index and search queries.

The same characters are folded in Python (rules, queries) and in SQL (the index triggers,
PostgreSQL's generated column), so a query and the text it should find always agree.
"""

import re
import unicodedata

import regex

# Arabic-script letters that Urdu sites spell either way, and marks (harakat, tatweel,
# zero-width non-joiner) some sites add and others leave out. Marks split words in SQLite's
# and PostgreSQL's tokenizers, so they are removed before indexing and before querying.
LETTER_FOLDS = {"\u0643": "\u06a9", "\u064a": "\u06cc", "\u0649": "\u06cc"}
REMOVED = ["\u0640", "\u200c", "\u0670", *(chr(c) for c in range(0x064B, 0x0660))]

_TABLE = str.maketrans({**LETTER_FOLDS, **{c: None for c in REMOVED}})

WORD_CHARS = r"[\p{L}\p{M}\p{N}_]"
_URL = regex.compile(r"(?:https?://|www\.)[^\s<>\"']+", regex.IGNORECASE)
_SPLIT = regex.compile(rf"({WORD_CHARS}+)")
# In Latin text (ASCII, Latin-1, Latin Extended, general punctuation, currency signs) there are
# no combining marks, and the stdlib's \w is exactly WORD_CHARS there (checked by
# tests/test_rules.py), so `re` splits it, two to three times faster than `regex`.
_LATIN_SPLIT = re.compile(r"(\w+)")
_NOT_LATIN = re.compile(r"[^\x00-\u024f\u2000-\u206f\u20a0-\u20cf]")


def fold(text: str) -> str:
    """NFKC, then the Urdu letter folds and mark removal above."""
    return unicodedata.normalize("NFKC", text).translate(_TABLE)


def sql_fold(expr: str) -> str:
    """The same folds (without NFKC) as nested SQL replace() calls around `expr`."""
    for old, new in LETTER_FOLDS.items():
        expr = f"replace({expr}, '{old}', '{new}')"
    for old in REMOVED:
        expr = f"replace({expr}, '{old}', '')"
    return expr


def strip_urls(text: str) -> str:
    """Blank out URLs (same length) so "/ttp-attack" in a link is not a mention."""
    if "://" not in text and "www." not in text.lower():
        return text  # most texts have no URL; the plain look costs a tenth of the pattern's
    return _URL.sub(lambda m: " " * len(m.group()), text)


def prepare(text: str | None) -> str:
    """A title or text as every matcher reads it (alerts.terms), and as search keys are made
    of it (storage.searchkeys): folded, URLs blanked."""
    return strip_urls(fold(text or ""))


def split_words(text: str) -> list[str]:
    """The text as [gap, word, gap, word, ..., gap]: words are runs of WORD_CHARS."""
    if _NOT_LATIN.search(text) is None:
        return _LATIN_SPLIT.split(text)
    return _SPLIT.split(text)
