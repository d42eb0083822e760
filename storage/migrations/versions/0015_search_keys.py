"""search keys: PostgreSQL finds phrases through an index of word pairs (storage.searchkeys)

A phrase of two common words narrowed, through search_vector, to every article holding both
words, and the matcher read up to 49,000 texts to find 20 holding the phrase (8-15 s at
200,000 articles). articles.search_keys holds hashes of each pair of adjacent words, as the
matcher reads them; its GIN index finds the articles holding a phrase's pairs. They are
computed in Python (the matcher's own word splitting and folding) on every insert and edit
(storage.models). The articles already stored are keyed afterwards, a batch at a time, by the
daemon or `mediawatch crawl` (storage.searchkeys.fill_search_keys), not here: at 2.6 ms an
article, a million articles would hold the upgrade (and every writer) for 45 minutes. Until
then they are found the old way, through ix_articles_unkeyed. STORAGE EXTERNAL: the hashes do
not compress, and only the index is read. SQLite's FTS5 keeps positions and needs none of
this: the column is added there only because the ORM writes every column it maps, and stays
empty.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("ALTER TABLE articles ADD COLUMN search_keys")
        return
    op.execute("ALTER TABLE articles ADD COLUMN search_keys integer[]")
    op.execute("ALTER TABLE articles ALTER COLUMN search_keys SET STORAGE EXTERNAL")
    op.execute("CREATE INDEX ix_articles_search_keys ON articles USING GIN (search_keys)")
    op.execute("CREATE INDEX ix_articles_unkeyed ON articles (id) WHERE search_keys IS NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("ALTER TABLE articles DROP COLUMN search_keys")
    else:
        op.execute("DROP INDEX IF EXISTS ix_articles_unkeyed")
        op.execute("DROP INDEX IF EXISTS ix_articles_search_keys")
        op.execute("ALTER TABLE articles DROP COLUMN IF EXISTS search_keys")
