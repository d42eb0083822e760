"""seen retries: transient outcomes (gone, not_article, challenge) are fetched again on a schedule

seen_urls gains `attempts` (how many fetches gave a transient outcome) and `retry_after` (when
the URL may be fetched again; NULL: remembered for good), and its outcome CHECK admits
'challenge' (a bot-challenge page served in place of an article).

Existing rows upgrade in place with attempts = 1 and retry_after = NULL: the gone and
not_article rows earlier releases wrote count as retries exhausted, so an upgrade does not
refetch every dead link of the archive at once; only outcomes recorded from now on are retried.

SQLite cannot add a CHECK to a table, so batch mode recreates seen_urls (copy, drop, rename),
its foreign key to articles included; no table references seen_urls, and `articles` with its
full-text triggers (0002) is not touched. PostgreSQL alters the table in place.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Copied, not imported, so later changes to storage/statuses.py do not rewrite this migration.
SEEN_0004 = ("stored", "too_old", "not_article", "gone", "too_large", "robots")
SEEN = (*SEEN_0004, "challenge")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("seen_urls") as batch:
        batch.add_column(
            sa.Column(
                "attempts",
                sa.Integer(),
                nullable=False,
                server_default="1",
                comment="fetches that gave a transient outcome (gone, not_article, challenge)",
            )
        )
        batch.add_column(
            sa.Column(
                "retry_after",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="when a transient outcome may be fetched again; NULL: for good",
            )
        )
        batch.drop_constraint("ck_seen_urls_outcome", type_="check")
        batch.create_check_constraint("ck_seen_urls_outcome", _one_of("outcome", SEEN))


def downgrade() -> None:
    # A challenge row meant "not an article yet"; 0004's code knows that as not_article.
    op.execute("UPDATE seen_urls SET outcome = 'not_article' WHERE outcome = 'challenge'")
    with op.batch_alter_table("seen_urls") as batch:
        batch.drop_constraint("ck_seen_urls_outcome", type_="check")
        batch.create_check_constraint("ck_seen_urls_outcome", _one_of("outcome", SEEN_0004))
        batch.drop_column("retry_after")
        batch.drop_column("attempts")
