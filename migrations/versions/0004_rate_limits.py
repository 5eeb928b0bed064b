"""Rate limits shared by every API process (core/rate_limits.py): one row per limited key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # UNLOGGED: counters are worth losing in a crash (limits restart empty) rather than
    # paying WAL for every login attempt.
    op.execute("CREATE UNLOGGED TABLE rate_limits (key text PRIMARY KEY, tat timestamptz NOT NULL)")


def downgrade() -> None:
    op.execute("DROP TABLE rate_limits")
