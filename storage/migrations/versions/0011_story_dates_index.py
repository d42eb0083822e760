"""story dates index: trends and spikes count stories without reading article text

`mediawatch trends`, `/trends` and the spike job count distinct stories per day from an
article's id, dates, first copy, outlet and language. Those columns sit after the text in an
article's row, so without an index holding them each count reads every matching article's
whole row. ix_articles_story_dates holds exactly them (a covering index on SQLite, an
index-only scan on PostgreSQL); benchmarks/trends.py measured the query's median CPU time at
200,000 articles going from 145 ms to 87 ms with it.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["id", "published", "first_seen", "duplicate_of_id", "outlet_id", "language"]


def upgrade() -> None:
    op.create_index("ix_articles_story_dates", "articles", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_articles_story_dates", table_name="articles")
