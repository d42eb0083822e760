"""search keys: PostgreSQL finds phrases through an index of word pairs (storage.searchkeys)

A phrase of two common words narrowed, through search_vector, to every article holding both
words, and the matcher read up to 49,000 texts to find 20 holding the phrase (8-15 s at
200,000 articles). articles.search_keys holds hashes of each pair of adjacent words, as the
matcher reads them; its GIN index finds the articles holding a phrase's pairs.
They are computed in Python (the matcher's own word splitting and folding), on every insert
and edit (storage.models), and here for the rows already stored: about a millisecond an
article, logged every 10,000. Rows without keys (written by older code) are still found, the
old way, through ix_articles_unkeyed. STORAGE EXTERNAL: the hashes do not compress, and only
the index is read. SQLite's FTS5 keeps positions and needs none of this: the column is added
there only because the ORM writes every column it maps, and stays empty.

Revision ID: 0015
Revises: 0014
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.searchkeys import article_keys

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
logger = logging.getLogger(__name__)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.execute("ALTER TABLE articles ADD COLUMN search_keys")
        return
    op.execute("ALTER TABLE articles ADD COLUMN search_keys integer[]")
    op.execute("ALTER TABLE articles ALTER COLUMN search_keys SET STORAGE EXTERNAL")
    total = bind.execute(sa.text("SELECT count(*) FROM articles")).scalar_one()
    read = sa.text("SELECT id, title, text FROM articles WHERE id > :after ORDER BY id LIMIT :n")
    write = sa.text("UPDATE articles SET search_keys = :keys WHERE id = :id")
    after, done = 0, 0
    while rows := bind.execute(read, {"after": after, "n": BATCH}).all():
        bind.execute(write, [{"id": i, "keys": article_keys(t, x)} for i, t, x in rows])
        after, done = rows[-1][0], done + len(rows)
        if done % 10_000 < BATCH or done == total:
            logger.info("search keys: %d of %d articles", done, total)
    # Built after the rows are filled: one sorted build instead of a million inserts.
    op.execute("CREATE INDEX ix_articles_search_keys ON articles USING GIN (search_keys)")
    op.execute("CREATE INDEX ix_articles_unkeyed ON articles (id) WHERE search_keys IS NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("ALTER TABLE articles DROP COLUMN search_keys")
    else:
        op.execute("DROP INDEX IF EXISTS ix_articles_unkeyed")
        op.execute("DROP INDEX IF EXISTS ix_articles_search_keys")
        op.execute("ALTER TABLE articles DROP COLUMN IF EXISTS search_keys")
