"""term frequencies: more like this reads document frequencies from a snapshot, not the index

More like this (storage/similar.py) weighs an article's terms by how many articles hold each.
Counting those in the full-text index for each article asked cost 0.5 s at 200,000 articles on
a cold SQLite process and on every PostgreSQL request (mid-frequency lexemes counted through
the GIN index). New table `term_frequencies` holds each term of the index found in two articles
or more, with that number, taken in one pass over the index (FTS5's vocabulary on SQLite,
ts_stat on PostgreSQL) and refreshed by the daemon when the archive has grown or the snapshot
is a day old; the archive size it was taken at is in `state`. One indexed read then gives an
article's document frequencies. The table starts empty: until the first refresh, more like
this counts in the index as before.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "term_frequencies",
        sa.Column("term", sa.Text(), primary_key=True, comment="as the full-text index holds it"),
        sa.Column(
            "documents",
            sa.Integer(),
            nullable=False,
            comment="articles holding the term when the snapshot was taken",
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("term_frequencies")
    op.execute("DELETE FROM state WHERE key = 'similar:term_frequencies'")
