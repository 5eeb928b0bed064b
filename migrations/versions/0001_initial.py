"""Initial schema: users, projections, search, ledger with invariants, idempotency, webhooks.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


SCHEMA = r"""
CREATE TABLE users (
    id uuid PRIMARY KEY,
    email text NOT NULL,
    password_hash text NOT NULL,
    display_name text NOT NULL,
    role text NOT NULL CHECK (role IN ('client', 'worker', 'support', 'admin')),
    verification_level integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- Emails are unique regardless of case: "Ann@x.io" and "ann@x.io" are one person.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- array_to_string is only STABLE, and generated columns need IMMUTABLE expressions; joining
-- text with a space really is immutable, so wrap it.
CREATE FUNCTION skills_text(skills text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT array_to_string(skills, ' ') $$;

CREATE TABLE jobs (
    id uuid PRIMARY KEY,
    client_id uuid NOT NULL REFERENCES users (id),
    title text NOT NULL,
    description text NOT NULL,
    skills text[] NOT NULL,
    budget_cents bigint NOT NULL CHECK (budget_cents > 0),
    currency varchar NOT NULL,
    positions integer NOT NULL,
    hired_count integer NOT NULL,
    status varchar NOT NULL,
    close_reason varchar,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    closed_at timestamptz,
    version bigint NOT NULL,
    -- Title weighs more than skills, skills more than the description.
    search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', skills_text(skills)), 'B') ||
        setweight(to_tsvector('english', coalesce(description, '')), 'C')
    ) STORED
);
CREATE INDEX jobs_search_idx ON jobs USING gin (search);
CREATE INDEX jobs_skills_idx ON jobs USING gin (skills);
-- Keyset pagination: newest first, id breaks ties.
CREATE INDEX jobs_listing_idx ON jobs (status, created_at DESC, id DESC);
CREATE INDEX jobs_client_idx ON jobs (client_id);

CREATE TABLE applications (
    id uuid PRIMARY KEY,
    job_id uuid NOT NULL REFERENCES jobs (id),
    worker_id uuid NOT NULL REFERENCES users (id),
    cover_letter text NOT NULL,
    status varchar NOT NULL,
    contract_id uuid,
    applied_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version bigint NOT NULL,
    UNIQUE (job_id, worker_id)
);
CREATE INDEX applications_worker_idx ON applications (worker_id);

CREATE TABLE contracts (
    id uuid PRIMARY KEY,
    job_id uuid NOT NULL REFERENCES jobs (id),
    client_id uuid NOT NULL REFERENCES users (id),
    worker_id uuid NOT NULL REFERENCES users (id),
    stage varchar NOT NULL,
    total_cents bigint NOT NULL,
    currency varchar NOT NULL,
    needs_support boolean NOT NULL DEFAULT false,
    state jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version bigint NOT NULL
);
CREATE INDEX contracts_client_idx ON contracts (client_id, created_at DESC, id DESC);
CREATE INDEX contracts_worker_idx ON contracts (worker_id, created_at DESC, id DESC);

CREATE TABLE reviews (
    contract_id uuid NOT NULL REFERENCES contracts (id),
    author_id uuid NOT NULL REFERENCES users (id),
    subject_id uuid NOT NULL REFERENCES users (id),
    author_role varchar NOT NULL,
    rating integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment varchar NOT NULL,
    submitted_at timestamptz NOT NULL,
    revealed_at timestamptz,
    PRIMARY KEY (contract_id, author_id)
);
CREATE INDEX reviews_subject_idx ON reviews (subject_id, submitted_at DESC) WHERE revealed_at IS NOT NULL;

CREATE TABLE payout_accounts (
    user_id uuid PRIMARY KEY REFERENCES users (id),
    stripe_account_id varchar UNIQUE,
    status varchar NOT NULL,
    payouts_enabled boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL,
    version bigint NOT NULL
);

CREATE TABLE payout_waiters (
    user_id uuid NOT NULL REFERENCES users (id),
    contract_id uuid NOT NULL REFERENCES contracts (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, contract_id)
);

CREATE TABLE ledger_transactions (
    id serial PRIMARY KEY,
    key text NOT NULL UNIQUE,
    contract_id uuid NOT NULL REFERENCES contracts (id),
    kind varchar NOT NULL,
    currency varchar NOT NULL,
    provider_object_id varchar,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_transactions_contract_idx ON ledger_transactions (contract_id);
CREATE INDEX ledger_transactions_provider_idx ON ledger_transactions (provider_object_id);

CREATE TABLE ledger_entries (
    id serial PRIMARY KEY,
    transaction_id integer NOT NULL REFERENCES ledger_transactions (id),
    contract_id uuid NOT NULL REFERENCES contracts (id),
    account varchar NOT NULL,
    currency varchar NOT NULL,
    amount_cents bigint NOT NULL CHECK (amount_cents <> 0)
);
CREATE INDEX ledger_entries_tx_idx ON ledger_entries (transaction_id);
CREATE INDEX ledger_entries_contract_account_idx ON ledger_entries (contract_id, account);

-- The ledger's two invariants, checked by the database at commit time (deferred, so a
-- transaction's entries can be inserted one by one):
--   1. every transaction sums to zero;
--   2. no contract's escrow balance is ever below zero.
CREATE FUNCTION ledger_check_invariants() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tx_sum bigint;
    escrow bigint;
BEGIN
    SELECT coalesce(sum(amount_cents), 0) INTO tx_sum
      FROM ledger_entries WHERE transaction_id = NEW.transaction_id;
    IF tx_sum <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (sum %)', NEW.transaction_id, tx_sum
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT coalesce(sum(amount_cents), 0) INTO escrow
      FROM ledger_entries WHERE contract_id = NEW.contract_id AND account = 'escrow';
    IF escrow < 0 THEN
        RAISE EXCEPTION 'escrow of contract % would go negative (%)', NEW.contract_id, escrow
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER ledger_entries_invariants
    AFTER INSERT OR UPDATE ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_invariants();

-- Ledger rows are facts: corrections are new transactions, never edits.
CREATE FUNCTION ledger_forbid_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_changes();
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_changes();

CREATE TABLE idempotency_keys (
    user_id uuid NOT NULL REFERENCES users (id),
    key varchar NOT NULL,
    request_fingerprint varchar NOT NULL,
    status_code integer,
    response_body jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

CREATE TABLE webhook_events (
    provider varchar NOT NULL,
    event_id varchar NOT NULL,
    type varchar NOT NULL,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    PRIMARY KEY (provider, event_id)
);

CREATE TABLE notifications (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id),
    kind varchar NOT NULL,
    subject varchar NOT NULL,
    body varchar NOT NULL,
    dedupe_key text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC);
"""


def statements(sql: str) -> list[str]:
    """Split a script into statements (asyncpg runs one per call), keeping $$-quoted bodies."""
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    out, current, in_body = [], [], False
    for line in lines:
        current.append(line)
        in_body ^= line.count("$$") % 2 == 1
        if not in_body and line.rstrip().endswith(";"):
            out.append("\n".join(current).strip())
            current = []
    return [s for s in out if s]


def upgrade() -> None:
    for statement in statements(SCHEMA):
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP TABLE notifications, webhook_events, idempotency_keys, ledger_entries,"
        " ledger_transactions, payout_waiters, payout_accounts, reviews, contracts,"
        " applications, jobs, users CASCADE"
    )
    op.execute("DROP FUNCTION ledger_check_invariants, ledger_forbid_changes, skills_text")
