"""digest claims: a lease so two senders never send one digest

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("digests") as batch:
        batch.add_column(
            sa.Column(
                "claimed_until",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="while status is 'sending': when another sender may take over",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("digests") as batch:
        batch.drop_column("claimed_until")
