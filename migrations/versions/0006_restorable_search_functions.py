"""Search functions that a pg_dump restores: their calls of our own functions name the schema.

pg_restore runs with an empty search_path (PostgreSQL's defence against search_path attacks
since 10.3). Creating ``worker_profiles`` then evaluates ``search_document`` and
``member_standing`` for its generated columns, and their unqualified calls of
``skills_text``, ``marked_lexemes`` and ``rating_milli`` were not found: every dump of a
database at 0005 failed to restore (found by tests/ops/test_restore_drill.py). The bodies stay
plain SQL strings, so PostgreSQL still inlines them exactly as before (search's plans do not
change); only the names are qualified.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# {s} is the schema the tables live in (the migrating role's current schema, normally public).
FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION search_document(headline text, skills text[], body text)
    RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsvector('english', coalesce(headline, '') || ' ' || {s}skills_text(skills) || ' '
                                  || coalesce(body, ''))
        || {s}marked_lexemes(to_tsvector('english', coalesce(headline, '')), 'h')
        || {s}marked_lexemes(to_tsvector('english', {s}skills_text(skills)), 's')
        || array_to_tsvector(ARRAY(SELECT DISTINCT 'k:' || skill FROM unnest(skills) AS skill
                                   WHERE skill <> ''))
$$;

CREATE OR REPLACE FUNCTION member_standing(verified_steps text[], rating_count integer,
                                           rating_sum integer)
    RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ({s}rating_milli(rating_count, rating_sum) - 1000) / 2
         + 250 * cardinality(ARRAY(
               SELECT DISTINCT s FROM unnest(verified_steps) AS s
               WHERE s IN ('email', 'phone', 'identity', 'background')))
$$;
"""


def _schema() -> str:
    name = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    return f"{name}."


def upgrade() -> None:
    op.execute(FUNCTIONS.replace("{s}", _schema()))


def downgrade() -> None:
    op.execute(FUNCTIONS.replace("{s}", ""))
