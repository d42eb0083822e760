"""stop word keys: search_keys also hold English stop words, so every article is keyed again

The English index leaves stop words out, so a search for one ("themselves", "where") was
narrowed by nothing, and the matcher read the newest texts until 20 held the word: 1,700 texts
and 200-300 ms at 200,000 articles. search_keys now also hold a key for each English stop word
of an article (storage.searchkeys), and a stop word is found through their GIN index.

Keys written before this revision lack them, so this one empties the column: dropping it and
adding it again takes a moment at any size, where an UPDATE would rewrite every row. The
articles are keyed again a batch at a time by the daemon or `mediawatch crawl`, newest first,
as after revision 0015, and found the old way meanwhile. Keys now hold a marker of their
version (storage.searchkeys.KEYED): a daemon of the version before, still running after
another command upgraded the schema, stores articles with keys that lack it, and those are
keyed again too, so ix_articles_unkeyed covers them. SQLite's column stays empty: nothing to
do there.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
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
    op.execute("CREATE INDEX ix_articles_search_keys ON articles USING GIN (search_keys)")
    # storage.searchkeys.TO_KEY, written out: a migration keeps the predicate it was made with.
    op.execute(
        "CREATE INDEX ix_articles_unkeyed ON articles (id) WHERE "
        "search_keys IS NULL OR NOT (search_keys @> '{4194320}'::integer[])"
    )


def downgrade() -> None:
    """Nothing: the keys are a superset of revision 0015's, which its code reads as its own."""
