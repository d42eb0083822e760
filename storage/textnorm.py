"""Text folding shared by keyword rules, the search index and search queries.

The same characters are folded in Python (rules, queries) and in SQL (the index triggers,
PostgreSQL's generated column), so a query and the text it should find always agree.
"""

import unicodedata

# Arabic-script letters that Urdu sites spell either way, and marks (harakat, tatweel,
# zero-width non-joiner) some sites add and others leave out. Marks split words in SQLite's
# and PostgreSQL's tokenizers, so they are removed before indexing and before querying.
LETTER_FOLDS = {"\u0643": "\u06a9", "\u064a": "\u06cc", "\u0649": "\u06cc"}
REMOVED = ["\u0640", "\u200c", "\u0670", *(chr(c) for c in range(0x064B, 0x0660))]

_TABLE = str.maketrans({**LETTER_FOLDS, **{c: None for c in REMOVED}})


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
