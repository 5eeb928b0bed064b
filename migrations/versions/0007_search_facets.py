"""Profile facets as lexemes: where a worker is (grid cell), which checks they passed, their
rating and rate bands, in the same search document as their words.

Why (issue 10, make bench at 500,000 profiles): a search with words *and* a radius or filters
read the words' matches from the GIN index and then either built a bitmap of every profile in
the circle's cells (115,000 rows in the busiest city) or fetched each match's row to test the
filters, 53-79 ms at p95. As lexemes, "in one of these cells", "identity verified", "rated
4.0 or better" and "charges 50 $/h or less" join the words in one GIN scan, which intersects
the posting lists and skips most of the long ones, and fetches only rows that pass.

The exact conditions stay in the query (a band is coarser than the filter asked for); the
lexemes only narrow what is read. Documented in docs/search.md.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# {s} is the schema our functions live in: pg_restore runs with an empty search_path, and a
# generated column's function must find ours then too (migration 0006).
# Bands: a profile carries every band it satisfies, so "rating at least 4.0" is the one lexeme
# r:40 and "at most 50 $/h" the one lexeme p:5000. A query between two bands uses the nearest
# band that contains it (search/postgres.py RATING_BANDS / RATE_BANDS, which must match).
UPGRADE = r"""
CREATE FUNCTION profile_facets(latitude double precision, longitude double precision,
                               verified_steps text[], rating_count integer, rating_sum integer,
                               hourly_rate_cents bigint)
    RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_to_tsvector(
        ARRAY['g:' || {s}geo_cell(latitude, longitude)]
        || ARRAY(SELECT DISTINCT 'v:' || step FROM unnest(verified_steps) AS step
                 WHERE step <> '')
        -- The average people see (sum / count), in tenths of a star: r:10 … r:50.
        || ARRAY(SELECT 'r:' || band FROM generate_series(10, 50, 5) AS band
                 WHERE rating_count > 0 AND rating_sum * 10 >= band * rating_count)
        || ARRAY(SELECT 'p:' || band
                 FROM unnest('{1000,2000,3000,4000,5000,6000,8000,10000,12000,15000,20000,
                               30000,50000}'::bigint[]) AS band
                 WHERE hourly_rate_cents <= band))
$$;

DROP INDEX worker_profiles_search_idx;
ALTER TABLE worker_profiles DROP COLUMN search;
ALTER TABLE worker_profiles ADD COLUMN search tsvector GENERATED ALWAYS AS (
    search_document(headline, skills, bio)
    || profile_facets(latitude, longitude, verified_steps, rating_count, rating_sum,
                      hourly_rate_cents)
) STORED;
ALTER TABLE worker_profiles ALTER COLUMN search SET STATISTICS 1000;
CREATE INDEX worker_profiles_search_idx ON worker_profiles USING gin (search)
    WITH (gin_pending_list_limit = 128);
ANALYZE worker_profiles;
"""

DOWNGRADE = r"""
DROP INDEX worker_profiles_search_idx;
ALTER TABLE worker_profiles DROP COLUMN search;
ALTER TABLE worker_profiles ADD COLUMN search tsvector
    GENERATED ALWAYS AS (search_document(headline, skills, bio)) STORED;
ALTER TABLE worker_profiles ALTER COLUMN search SET STATISTICS 1000;
CREATE INDEX worker_profiles_search_idx ON worker_profiles USING gin (search)
    WITH (gin_pending_list_limit = 128);
DROP FUNCTION profile_facets;
"""


def upgrade() -> None:
    schema = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    op.execute(UPGRADE.replace("{s}", f"{schema}."))


def downgrade() -> None:
    op.execute(DOWNGRADE)
