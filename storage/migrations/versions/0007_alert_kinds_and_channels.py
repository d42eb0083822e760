"""alert kinds and channels: the outbox also carries edits and spikes, to email or Apprise

Until now an alert was one (story, subscription) pair by email. Now a row is one (thing,
subscription, channel): the thing is a story (kind 'article'), a story's version (kind
'edit') or a spike (kind 'spike', a row of the new `spikes` table); the channel is 'email' or
'notify:' and a hash of an Apprise URL (the URL holds secrets and stays in the configuration).
The unique (story_id, subscription) becomes a unique `dedupe_key` spelling out the triple, so
exactly-once holds for every kind and channel. article_id and story_id may be NULL (a spike is
about no one article).

Existing rows upgrade in place as kind 'article', channel 'email', version 0, with the key
'article:<story>:<subscription>:email' that storage/outbox.py computes for them, so an alert
queued before the upgrade is not queued again after it. SQLite cannot change a constraint or a
column's NULL-ability in place, so batch mode recreates `alerts` (copy, drop, rename; no table
references it and it has no triggers); PostgreSQL alters it in place.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("article", "edit", "spike")


def upgrade() -> None:
    op.create_table(
        "spikes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False, comment="YYYY-MM-DD in `zone`"),
        sa.Column(
            "zone", sa.String(64), nullable=False, comment="IANA time zone the day is counted in"
        ),
        sa.Column("stories", sa.Integer(), nullable=False),
        sa.Column(
            "baseline",
            sa.Float(),
            nullable=False,
            comment="mean stories a day, previous 14 days",
        ),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("topic", "day", "zone", name="uq_spikes_topic_day_zone"),
    )
    op.create_index("ix_spikes_day", "spikes", ["day"])
    op.add_column(
        "alerts", sa.Column("kind", sa.String(16), server_default="article", nullable=False)
    )
    op.add_column(
        "alerts",
        sa.Column(
            "version",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="kind edit: the article version it is about",
        ),
    )
    op.add_column(
        "alerts",
        sa.Column(
            "channel",
            sa.String(64),
            server_default="email",
            nullable=False,
            comment='"email", or "notify:" and a hash of the Apprise URL (never the URL)',
        ),
    )
    op.add_column("alerts", sa.Column("spike_id", sa.Integer(), nullable=True))
    op.add_column(
        "alerts",
        sa.Column(
            "dedupe_key",
            sa.String(512),
            nullable=True,
            comment="storage.outbox.dedupe_key: one row per thing, subscription, channel",
        ),
    )
    # Colons are escaped: text() would read ":email" as a bind parameter.
    op.execute(
        sa.text(
            "UPDATE alerts SET dedupe_key = "
            r"'article\:' || CAST(story_id AS VARCHAR(20)) || '\:' || subscription || '\:email'"
        )
    )
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("dedupe_key", existing_type=sa.String(512), nullable=False)
        batch.alter_column("article_id", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("story_id", existing_type=sa.Integer(), nullable=True)
        batch.alter_column(
            "subscription",
            existing_type=sa.String(320),
            existing_nullable=False,
            comment="the subscription's key",
            existing_comment="the subscriber's email",
        )
        batch.drop_constraint("uq_alerts_story_subscription", type_="unique")
        batch.create_unique_constraint("uq_alerts_dedupe_key", ["dedupe_key"])
        batch.create_check_constraint(
            "ck_alerts_kind", f"kind IN ({', '.join(repr(k) for k in KINDS)})"
        )
        batch.create_foreign_key(
            "fk_alerts_spike_id_spikes", "spikes", ["spike_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    # Only article alerts by email existed before: the others go (they could not be sent by
    # the older code), then the old key comes back.
    op.execute("DELETE FROM alerts WHERE kind <> 'article' OR channel <> 'email'")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint("fk_alerts_spike_id_spikes", type_="foreignkey")
        batch.drop_constraint("ck_alerts_kind", type_="check")
        batch.drop_constraint("uq_alerts_dedupe_key", type_="unique")
        batch.create_unique_constraint("uq_alerts_story_subscription", ["story_id", "subscription"])
        batch.alter_column("story_id", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("article_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("dedupe_key")
        batch.drop_column("spike_id")
        batch.drop_column("channel")
        batch.drop_column("version")
        batch.drop_column("kind")
    op.drop_index("ix_spikes_day", table_name="spikes")
    op.drop_table("spikes")
