"""alert claims: a lease column of its own, so no sender takes an alert another is sending

Until now a sender claimed an alert by pushing its next_attempt_at past a lease, and
`alerts flush` (which takes alerts due at any time) could claim it again while the daemon was
still sending it. alerts.claimed_until and alerts.claimed_by hold the claim instead; the next
try time is only ever a retry schedule.

Existing rows upgrade in place: both columns start empty (no alert is being sent while the
database upgrades), and an alert that an older release had claimed keeps its next_attempt_at,
so it is due again when that old lease ends, as before. Columns are added with ALTER TABLE ...
ADD COLUMN on both SQLite and PostgreSQL: no table is recreated, so the CHECK constraints of
0004 and the full-text triggers of 0002 stay as they are.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "alerts",
        sa.Column(
            "claimed_until",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="while a sender holds it: when another sender may take over",
        ),
    )
    op.add_column(
        "alerts",
        sa.Column(
            "claimed_by",
            sa.String(64),
            nullable=True,
            comment="the delivery round holding the claim (host, pid, round)",
        ),
    )


def downgrade() -> None:
    # A claim still held is handed back the old way, so the older code does not send the alert
    # while its sender may still be at it; then the columns go. SQLite (3.35+) and PostgreSQL
    # both drop a column in place, so the table is not recreated here either.
    op.execute(
        "UPDATE alerts SET next_attempt_at = claimed_until "
        "WHERE claimed_until IS NOT NULL AND claimed_until > next_attempt_at"
    )
    op.drop_column("alerts", "claimed_by")
    op.drop_column("alerts", "claimed_until")
