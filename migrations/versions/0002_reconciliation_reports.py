"""Reconciliation reports: what each run checked and every mismatch it found.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE reconciliation_reports (
            run_id varchar PRIMARY KEY,
            since timestamptz NOT NULL,
            until timestamptz NOT NULL,
            checked jsonb NOT NULL,
            mismatch_count integer NOT NULL,
            mismatches jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "CREATE INDEX reconciliation_reports_created_idx ON reconciliation_reports (created_at DESC)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE reconciliation_reports")
