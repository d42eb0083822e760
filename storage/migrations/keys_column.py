"""Empty articles.search_keys for a new version of the keys (revisions 0016 and 0017).

Dropping the column and adding it again takes a moment at any size, where an UPDATE would
rewrite every row; the articles are then keyed again a batch at a time, newest first, by the
daemon or `mediawatch crawl` (storage.searchkeys.fill_search_keys), through
ix_articles_unkeyed. PostgreSQL only: SQLite's column stays empty.
"""

from alembic import op


def empty_search_keys(marker: int) -> None:
    """Drop and add the column and its indexes again; `marker` is the version's key that
    every article keyed by it holds (storage.searchkeys.KEYED, written out by the revision:
    a migration keeps the predicate it was made with)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_articles_unkeyed")
    op.execute("DROP INDEX IF EXISTS ix_articles_search_keys")
    op.execute("ALTER TABLE articles DROP COLUMN search_keys")
    op.execute("ALTER TABLE articles ADD COLUMN search_keys integer[]")
    op.execute("ALTER TABLE articles ALTER COLUMN search_keys SET STORAGE EXTERNAL")
    op.execute("CREATE INDEX ix_articles_search_keys ON articles USING GIN (search_keys)")
    # storage.searchkeys.TO_KEY, with this version's marker.
    op.execute(
        "CREATE INDEX ix_articles_unkeyed ON articles (id) WHERE "
        f"search_keys IS NULL OR NOT (search_keys @> '{{{int(marker)}}}'::integer[])"
    )
