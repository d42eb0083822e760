"""source validators and backfill progress: ETag and Last-Modified per feed and sitemap URL

source_validators keeps, per outlet and source URL, the validators its last full answer gave
(and, for a sitemap index, the children it listed), so the next run asks conditionally and an
unchanged source answers 304 with nothing to parse. backfill_progress keeps which child
sitemaps and listing pages a `crawl --since` run finished, so a stopped backfill continues.

Two new tables, nothing else touched: existing rows, the CHECK constraints of 0004 and the
full-text triggers of 0002 stay as they are. Downgrading drops both tables; the next crawl
then fetches every source in full once, and a backfill starts again from its first page.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_validators",
        sa.Column("outlet_id", sa.String(64), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False, comment="the source URL as requested"),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.String(64), nullable=True, comment="the header, verbatim"),
        sa.Column(
            "children",
            sa.JSON(),
            nullable=True,
            comment="a sitemap index's children as [url, lastmod or null], read on a 304",
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("outlet_id", "url", name="pk_source_validators"),
    )
    op.create_table(
        "backfill_progress",
        sa.Column("outlet_id", sa.String(64), nullable=False),
        sa.Column(
            "source", sa.String(2048), nullable=False, comment="child sitemap or listing URL"
        ),
        sa.Column("kind", sa.String(16), nullable=False, comment="sitemap or listing"),
        sa.Column(
            "since",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="finished for every article from this date",
        ),
        sa.Column("pages_done", sa.Integer(), nullable=False, comment="listing: last page done"),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("outlet_id", "source", name="pk_backfill_progress"),
        sa.CheckConstraint("kind IN ('sitemap', 'listing')", name="ck_backfill_progress_kind"),
    )


def downgrade() -> None:
    op.drop_table("backfill_progress")
    op.drop_table("source_validators")
