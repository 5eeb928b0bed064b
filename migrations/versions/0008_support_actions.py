"""Support actions: who did what to a contract and why (the audit trail), and the index the
support queue reads.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

STATEMENTS = [
    # The id derives from the workflow id and the update id (models/support.py), so a
    # retried write of the same action lands once. No foreign keys on purpose: the audit
    # row must never hold the action up (models/tables.py says why).
    """
    CREATE TABLE support_actions (
        id uuid PRIMARY KEY,
        workflow_id text NOT NULL,
        update_id text NOT NULL,
        contract_id uuid NOT NULL,
        action text NOT NULL,
        actor_id uuid NOT NULL,
        reason text NOT NULL CHECK (btrim(reason) <> ''),
        details jsonb NOT NULL,
        created_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX support_actions_contract_idx ON support_actions (contract_id, created_at)",
    "CREATE INDEX support_actions_created_idx ON support_actions (created_at)",
    # The support queue: only the few contracts that need a human, whatever their number.
    "CREATE INDEX contracts_support_idx ON contracts (updated_at)"
    " WHERE needs_support OR stage = 'disputed'",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP INDEX contracts_support_idx")
    op.execute("DROP TABLE support_actions")
