"""search rank vector: PostgreSQL ranks search results by title and lead, without TOAST reads

Search ranks the 1,000 newest candidates of a query with ts_rank (storage.search). Over
search_vector, every word of the article with its positions (about 6.7 KB for 800 words),
each of those rows' vector is read back from TOAST: about 100 ms for a common word at 200,000
articles. rank_vector holds the title (weight A) and the first LEAD characters of the text
(weight B), cut at white space so that it holds a part of search_vector and nothing else:
about 1.5 KB, kept in the row itself (STORAGE MAIN: compressed there if need be, never moved
out to TOAST), so ranking reads only the rows it ranks. Generated from title and text like
search_vector, it is filled for every existing row here and kept current on every insert and
edit by PostgreSQL. SQLite ranks with FTS5's bm25 and needs nothing.

ix_articles_search_other indexes the rows not in English alone: search asks them apart from
the English ones (their own tsquery, unstemmed), and through the whole index a common word
read every one of its 53,660 rows (300 ms at 200,000 articles) to find them all English.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

from storage.textnorm import sql_fold

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEAD = 1000  # characters of the text ranked: the lead paragraphs of a news article


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    config = "CASE WHEN language = 'en' THEN 'english'::regconfig ELSE 'simple'::regconfig END"
    # The lead ends at white space, not inside a word: its lexemes are search_vector's own.
    lead = (
        f"CASE WHEN length(text) > {LEAD} "
        f"THEN regexp_replace(left(text, {LEAD + 1}), '\\S+$', '') ELSE coalesce(text, '') END"
    )
    # One statement, so the table is rewritten once, with the column's storage already MAIN.
    op.execute(f"""
        ALTER TABLE articles
        ADD COLUMN rank_vector tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector({config}, {sql_fold("coalesce(title, '')")}), 'A') ||
            setweight(to_tsvector({config}, {sql_fold(lead)}), 'B')
        ) STORED,
        ALTER COLUMN rank_vector SET STORAGE MAIN""")
    # Search asks English rows and the others apart; the others' own index keeps a word
    # common in English from being looked up, row by row, among the other languages' rows.
    op.execute(
        "CREATE INDEX ix_articles_search_other ON articles USING GIN (search_vector) "
        "WHERE language IS DISTINCT FROM 'en'"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_articles_search_other")
        op.execute("ALTER TABLE articles DROP COLUMN IF EXISTS rank_vector")
