"""Verification (per-user projection, verified steps on the user row), on-site jobs, email and
SMS delivery records, notification preferences.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATEMENTS = [
    # What the Verification workflow has established, on the row every request already reads
    # (the current user), so gating an application costs no extra query.
    "ALTER TABLE users ADD COLUMN verified_steps text[] NOT NULL DEFAULT '{}'",
    "ALTER TABLE users ADD COLUMN phone_number text",
    "ALTER TABLE users ADD COLUMN email_notifications boolean NOT NULL DEFAULT true",
    "ALTER TABLE users ADD COLUMN sms_notifications boolean NOT NULL DEFAULT true",
    # STOP replies find people by their verified number.
    "CREATE INDEX users_phone_idx ON users (phone_number) WHERE phone_number IS NOT NULL",
    "ALTER TABLE jobs ADD COLUMN on_site boolean NOT NULL DEFAULT false",
    """
    CREATE TABLE verifications (
        user_id uuid PRIMARY KEY REFERENCES users (id),
        state jsonb NOT NULL,
        needs_support boolean NOT NULL DEFAULT false,
        -- Webhooks name the provider's object; these find the person it belongs to.
        identity_session_id text,
        background_candidate_id text,
        updated_at timestamptz NOT NULL,
        version bigint NOT NULL
    )
    """,
    "CREATE INDEX verifications_identity_idx ON verifications (identity_session_id)",
    "CREATE INDEX verifications_background_idx ON verifications (background_candidate_id)",
    "CREATE INDEX verifications_support_idx ON verifications (updated_at) WHERE needs_support",
    # One row per (notification, channel): the send's idempotency record and, through the
    # providers' delivery webhooks, what became of it.
    """
    CREATE TABLE deliveries (
        dedupe_key text NOT NULL,
        channel text NOT NULL CHECK (channel IN ('email', 'sms')),
        user_id uuid NOT NULL REFERENCES users (id),
        kind text NOT NULL,
        destination text,
        status text NOT NULL,
        detail text,
        provider_message_id text,
        attempts integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (dedupe_key, channel)
    )
    """,
    "CREATE INDEX deliveries_provider_idx ON deliveries (provider_message_id)",
    "CREATE INDEX deliveries_user_idx ON deliveries (user_id, created_at DESC)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE deliveries, verifications")
    op.execute("ALTER TABLE jobs DROP COLUMN on_site")
    op.execute(
        "ALTER TABLE users DROP COLUMN verified_steps, DROP COLUMN phone_number,"
        " DROP COLUMN email_notifications, DROP COLUMN sms_notifications"
    )
