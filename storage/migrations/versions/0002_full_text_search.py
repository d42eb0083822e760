"""full-text search: SQLite FTS5 external-content index, PostgreSQL tsvector + GIN

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

from storage.textnorm import sql_fold

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# unicode61 with M* as token characters: Devanagari and Bengali vowel signs stay inside their
# words (the default splits Hindi words at them). Urdu marks are folded out by sql_fold.
FTS5_TOKENIZE = "unicode61 remove_diacritics 2 categories 'L* N* Co M*'"


def _sqlite_values(prefix: str) -> str:
    return f"{sql_fold(f'{prefix}.title')}, {sql_fold(f'{prefix}.text')}"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        config = "CASE WHEN language = 'en' THEN 'english'::regconfig ELSE 'simple'::regconfig END"
        op.execute(f"""
            ALTER TABLE articles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector({config}, {sql_fold("coalesce(title, '')")}), 'A') ||
                setweight(to_tsvector({config}, {sql_fold("coalesce(text, '')")}), 'B')
            ) STORED""")
        # full-text search: `search_vector @@ query`
        op.execute("CREATE INDEX ix_articles_search ON articles USING GIN (search_vector)")
        return
    op.execute(f"""
        CREATE VIRTUAL TABLE articles_fts USING fts5(
            title, text, content='articles', content_rowid='id', tokenize="{FTS5_TOKENIZE}")""")
    op.execute(f"""
        CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
            INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, {_sqlite_values("new")});
        END""")
    op.execute(f"""
        CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
            INSERT INTO articles_fts(articles_fts, rowid, title, text)
            VALUES ('delete', old.id, {_sqlite_values("old")});
        END""")
    op.execute(f"""
        CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, text ON articles BEGIN
            INSERT INTO articles_fts(articles_fts, rowid, title, text)
            VALUES ('delete', old.id, {_sqlite_values("old")});
            INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, {_sqlite_values("new")});
        END""")
    op.execute(f"""
        INSERT INTO articles_fts(rowid, title, text)
        SELECT id, {sql_fold("title")}, {sql_fold("text")} FROM articles""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_articles_search")
        op.execute("ALTER TABLE articles DROP COLUMN IF EXISTS search_vector")
        return
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS articles_fts_{trigger}")
    op.execute("DROP TABLE IF EXISTS articles_fts")
