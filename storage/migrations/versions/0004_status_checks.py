"""status checks: each status column takes only its known values (CHECK constraints)

alerts.status, digests.status, crawl_runs.status and seen_urls.outcome get a named CHECK
listing the values earlier releases wrote (storage/statuses.py today; the lists are copied
here so that later changes to the enums do not rewrite this migration). crawl_runs.status
widens from 16 to 32 characters, so Scrapy's longer close reasons (closespider_timeout...)
fit on PostgreSQL too.

Rows already outside those sets:
- crawl_runs.status: set to 'failed', the rule the crawl-run recorder now follows for a close
  reason it does not know (only a custom CloseSpider reason could have written one). It changes
  nothing but the word `status` shows for that old run.
- alerts.status, digests.status, seen_urls.outcome: the upgrade refuses, naming the table, the
  values and how many rows hold each, and changes nothing (the migration runs in one
  transaction). No release wrote other values, so only a hand edit can have; guessing would risk
  an email sent twice or never, so the operator decides (an UPDATE, then start again).

SQLite cannot add a CHECK to a table, so batch mode recreates these four tables (copy, drop,
rename), indexes and foreign keys included. No table references them, so the drop cascades to
nothing; `articles` and its full-text triggers (0002) are not touched. PostgreSQL alters the
tables in place (ALTER TABLE ... ADD CONSTRAINT, ALTER COLUMN ... TYPE).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.migrate import MigrationRefused

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALERT = ("pending", "sent", "failed")
DIGEST = ("pending", "sending", "sent", "empty", "failed")
CRAWL = (
    "running",
    "ok",
    "failed",
    "interrupted",
    "start_error",
    "shutdown",
    "cancelled",
    "closespider_timeout",
    "closespider_timeout_no_item",
    "closespider_itemcount",
    "closespider_pagecount",
    "closespider_pagecount_no_item",
    "closespider_errorcount",
)
SEEN = ("stored", "too_old", "not_article", "gone", "too_large", "robots")

# (table, column, allowed values, constraint name)
REFUSED = (
    ("alerts", "status", ALERT, "ck_alerts_status"),
    ("digests", "status", DIGEST, "ck_digests_status"),
    ("seen_urls", "outcome", SEEN, "ck_seen_urls_outcome"),
)


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _unknown(table: str, column: str, values: Sequence[str]) -> list[tuple[str, int]]:
    rows = op.get_bind().execute(
        sa.text(
            f"SELECT {column}, count(*) FROM {table} "
            f"WHERE NOT ({_one_of(column, values)}) GROUP BY {column} ORDER BY {column}"
        )
    )
    return [(str(value), int(n)) for value, n in rows]


def _refuse_unknown_values() -> None:
    problems = []
    for table, column, values, _ in REFUSED:
        if found := _unknown(table, column, values):
            held = ", ".join(f"{value!r} ({n} rows)" for value, n in found)
            problems.append(
                f"{table}.{column} holds {held}; allowed: {', '.join(values)} "
                f"(fix with UPDATE {table} SET {column} = '...' WHERE {column} = '...')"
            )
    if problems:
        raise MigrationRefused(
            "revision 0004 (status checks) found values it will not guess about; nothing was "
            "changed: " + "; ".join(problems)
        )


def upgrade() -> None:
    _refuse_unknown_values()
    op.execute(f"UPDATE crawl_runs SET status = 'failed' WHERE NOT ({_one_of('status', CRAWL)})")
    with op.batch_alter_table("crawl_runs") as batch:
        batch.alter_column(
            "status", type_=sa.String(32), existing_type=sa.String(16), existing_nullable=False
        )
        batch.create_check_constraint("ck_crawl_runs_status", _one_of("status", CRAWL))
    for table, column, values, name in REFUSED:
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(name, _one_of(column, values))


def downgrade() -> None:
    # On PostgreSQL, narrowing fails while a run's status is longer than 16 characters, which
    # 0003's code could not have written there: shorten or delete those rows first.
    for table, _, _, name in REFUSED:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="check")
    with op.batch_alter_table("crawl_runs") as batch:
        batch.drop_constraint("ck_crawl_runs_status", type_="check")
        batch.alter_column(
            "status", type_=sa.String(16), existing_type=sa.String(32), existing_nullable=False
        )
