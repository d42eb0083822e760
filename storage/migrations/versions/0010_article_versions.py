"""article versions and re-check schedule: edited articles are kept version by version

New table `article_versions` (one row per version of an edited article: its title and text
as seen then). `articles` gains the validators of its page (`etag`, `last_modified`, sent back
on a re-check as If-None-Match / If-Modified-Since), its version number (`version`, 1 until an
edit), when it was last edited (`edited_at`), and its re-check schedule (`next_recheck_at`,
`rechecks` done). `crawl_runs` gains `rechecked` (re-check answers) and `edited` (new
versions stored).

Existing rows upgrade in place: version 1, no validators and next_recheck_at NULL, so an
upgrade does not re-check the whole archive at once; only articles stored from now on are
re-checked. Columns are added with ALTER TABLE ... ADD COLUMN on SQLite and PostgreSQL: no
table is recreated, so the full-text triggers of 0002 (which follow UPDATE OF title, text)
and the CHECK constraints of 0004 stay as they are.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "article_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "article_id",
            sa.Integer(),
            sa.ForeignKey("articles.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False, comment="1 is the first seen"),
        sa.Column("seen_at", _WHEN, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.UniqueConstraint("article_id", "version", name="uq_article_versions_article_version"),
    )
    columns: list[sa.Column[Any]] = [
        sa.Column("etag", sa.String(256), nullable=True, comment="the page's ETag, if it gave one"),
        sa.Column(
            "last_modified",
            sa.String(64),
            nullable=True,
            comment="the page's Last-Modified, as sent",
        ),
        sa.Column(
            "version",
            sa.Integer(),
            nullable=False,
            server_default="1",
            comment="the version title and text hold; article_versions has the earlier ones",
        ),
        sa.Column("edited_at", _WHEN, nullable=True),
        sa.Column(
            "next_recheck_at",
            _WHEN,
            nullable=True,
            comment="when the page is fetched again to look for edits; NULL: never again",
        ),
        sa.Column(
            "rechecks",
            sa.Integer(),
            nullable=False,
            server_default="0",
            comment="[crawl] recheck steps already taken",
        ),
    ]
    for column in columns:
        op.add_column("articles", column)
    op.create_index("ix_articles_recheck", "articles", ["outlet_id", "next_recheck_at"])
    for name in ("rechecked", "edited"):
        op.add_column(
            "crawl_runs", sa.Column(name, sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    # The latest version stays in `articles`; the earlier ones go with their table. SQLite
    # (3.35+) and PostgreSQL both drop a column in place, so no table is recreated here either.
    for name in ("edited", "rechecked"):
        op.drop_column("crawl_runs", name)
    op.drop_index("ix_articles_recheck", table_name="articles")
    for name in ("rechecks", "next_recheck_at", "edited_at", "version", "last_modified", "etag"):
        op.drop_column("articles", name)
    op.drop_table("article_versions")
