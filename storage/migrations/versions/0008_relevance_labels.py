"""readers' relevance marks per article and topic (table relevance_labels)

A reader marks an article relevant or not relevant to a topic on its web page; `rules eval`
measures each topic's precision and recall against these marks. One mark per (article,
topic): marking again replaces it. A new table only, so nothing existing is touched.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relevance_labels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "article_id",
            sa.Integer(),
            sa.ForeignKey("articles.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("relevant", sa.Boolean(), nullable=False),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("article_id", "topic", name="uq_relevance_labels_article_topic"),
    )
    # `rules eval --topic`: every mark of one topic
    op.create_index("ix_relevance_labels_topic", "relevance_labels", ["topic", "article_id"])


def downgrade() -> None:
    op.drop_index("ix_relevance_labels_topic", table_name="relevance_labels")
    op.drop_table("relevance_labels")
