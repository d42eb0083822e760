"""stemmed word keys: search_keys also hold each word the English stemmer changes, so every
article is keyed again

The English index holds "buttons" as 'button', with "button": a search for "buttons" was
narrowed to every article holding either, and the matcher read 200-2,000 texts (48 µs each)
to find the 20 that hold "buttons". search_keys now also hold a key for each word of an
article that the English stemmer changes (storage.searchkeys), and such a word is found
through their GIN index.

Keys written before this revision lack them, so this one empties the column, as revision 0016
did: dropping it and adding it again takes a moment at any size, where an UPDATE would rewrite
every row. The articles are keyed again a batch at a time by the daemon or `mediawatch crawl`,
newest first, and found the old way meanwhile. The keys' marker is now this version's
(storage.searchkeys.KEYED); they hold revision 0016's too, so that a daemon of that version,
still running after another command upgraded the schema, takes them for its own. SQLite's
column stays empty: nothing to do there.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

from storage.migrations.keys_column import empty_search_keys

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    empty_search_keys(marker=4194321)  # storage.searchkeys.KEYED of this revision


def downgrade() -> None:
    """Nothing: the keys are a superset of revision 0016's, marker included, which its code
    reads as its own."""
