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
still running after another command upgraded the schema, takes them for its own. The rows
such a daemon keys lack this version's marker: search finds them the old way, like rows
without keys, until they are keyed again. SQLite's column stays empty: nothing to do there.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_articles_unkeyed")
    op.execute("DROP INDEX IF EXISTS ix_articles_search_keys")
    op.execute("ALTER TABLE articles DROP COLUMN search_keys")
    op.execute("ALTER TABLE articles ADD COLUMN search_keys integer[]")
    op.execute("ALTER TABLE articles ALTER COLUMN search_keys SET STORAGE EXTERNAL")
    # The planner's estimate of a key's articles decides how search reads them
    # (storage.search._Narrowing._newest). At the default target, ANALYZE keeps the 1,000
    # commonest keys (of some 1,100 an article holds) and takes any other for 0.5 % of the
    # articles: "cities", in 11,639 of 200,000, was read all through (45 ms) where the newest
    # 3,000 would do. 10,000 keys: 67 s for ANALYZE at 200,000 articles, now and then.
    op.execute("ALTER TABLE articles ALTER COLUMN search_keys SET STATISTICS 1000")
    op.execute("CREATE INDEX ix_articles_search_keys ON articles USING GIN (search_keys)")
    _index_unkeyed(4194321)


def downgrade() -> None:
    """The keys are a superset of revision 0016's, its marker included, which its code reads
    as its own; only the index of the rows to key is put back as 0016 made it (its code looks
    for rows without 0016's marker, which this revision's index does not cover)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_articles_unkeyed")
    _index_unkeyed(4194320)


def _index_unkeyed(marker: int) -> None:
    """ix_articles_unkeyed over the rows without `marker`: storage.searchkeys.TO_KEY written
    out with the revision's KEYED (a migration keeps the predicate it was made with). Written
    here again rather than shared with revision 0016, whose text must never change."""
    op.execute(
        "CREATE INDEX ix_articles_unkeyed ON articles (id) WHERE "
        f"search_keys IS NULL OR NOT (search_keys @> '{{{marker}}}'::integer[])"
    )
