"""Worker profiles and ranked search: profiles, the facts workflows establish about people,
job locations, and the ranking columns and indexes search/postgres.py relies on.

How search uses this is in docs/search.md. In short: every result's relevance is
``text points + rank_base``, where ``rank_base`` is a stored integer (the person's standing and
the row's recency) with a b-tree index, and text points take four values decided by which
index-friendly predicates a row matches. So the best 20 of any query are the best 20 of four
index-ordered scans, never a score computed over every match.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The document a row is matched against: every word of every field, stemmed, plus the
# headline's (title's) and the skills' lexemes again under an "h:" / "s:" mark. Marked
# lexemes are real lexemes to the GIN index and to ANALYZE, so "all query words are in the
# headline" is an indexed lookup with its own statistics — unlike tsvector weights, which GIN
# does not store and the planner does not estimate.
FUNCTIONS = r"""
CREATE FUNCTION marked_lexemes(doc tsvector, mark text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT array_to_tsvector(coalesce(array_agg(mark || ':' || lexeme), '{}'))
    FROM unnest(tsvector_to_array(doc)) AS lexeme
$$;

-- Also each skill, whole and unstemmed, marked "k:": the skills filter is then one more
-- lookup in the same GIN scan as the words, which intersects posting lists and skips most of
-- them, where a separate array index read 230,000 row ids for a common skill (19 ms).
CREATE FUNCTION search_document(headline text, skills text[], body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsvector('english', coalesce(headline, '') || ' ' || skills_text(skills) || ' '
                                  || coalesce(body, ''))
        || marked_lexemes(to_tsvector('english', coalesce(headline, '')), 'h')
        || marked_lexemes(to_tsvector('english', skills_text(skills)), 's')
        || array_to_tsvector(ARRAY(SELECT DISTINCT 'k:' || skill FROM unnest(skills) AS skill
                                   WHERE skill <> ''))
$$;

-- Milliseconds since the epoch. extract() on timestamptz is only STABLE (other fields depend
-- on the time zone); the epoch does not, and generated columns need IMMUTABLE.
CREATE FUNCTION epoch_ms(t timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT floor(extract(epoch FROM t) * 1000)::bigint
$$;

-- A quarter-degree grid cell (about 28 km north-south). "Within r km" asks for the cells
-- the circle touches, then the exact distance. The cell is what the planner can count:
-- ANALYZE keeps each busy cell's share of rows, so it knows whether a circle holds 50 rows
-- (read them from the cell index) or 50,000 (walk the rank index and keep the ones inside).
-- A GiST box on ll_to_earth has no statistics: the planner guessed 33 rows for 17,000.
CREATE FUNCTION geo_cell(latitude double precision, longitude double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT least(floor((latitude + 90) * 4), 719)::integer * 1440
         + floor((longitude + 180) * 4)::integer % 1440
$$;

-- Reviews as a Bayesian average in thousandths of a star: three imaginary 4-star reviews
-- first, so one 5-star review does not outrank two hundred 4.9s.
CREATE FUNCTION rating_milli(rating_count integer, rating_sum integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (rating_sum * 1000 + 3 * 4000) / (rating_count + 3)
$$;

-- What a person brings to relevance: up to 2000 points for the rating (1 star 0, 5 stars
-- 2000) and 250 per verification step passed (email, phone, identity, background).
CREATE FUNCTION member_standing(verified_steps text[], rating_count integer, rating_sum integer)
    RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (rating_milli(rating_count, rating_sum) - 1000) / 2
         + 250 * cardinality(ARRAY(
               SELECT DISTINCT s FROM unnest(verified_steps) AS s
               WHERE s IN ('email', 'phone', 'identity', 'background')))
$$;
"""

SCHEMA = r"""
-- Ratings from revealed reviews, on every person: a worker's rank by it, a client's jobs too.
ALTER TABLE users ADD COLUMN rating_count integer NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN rating_sum integer NOT NULL DEFAULT 0;

CREATE TABLE worker_profiles (
    user_id uuid PRIMARY KEY REFERENCES users (id),
    -- Written by the worker (PUT /v1/me/profile).
    headline text NOT NULL,
    bio text NOT NULL,
    skills text[] NOT NULL,
    hourly_rate_cents bigint NOT NULL CHECK (hourly_rate_cents > 0),
    currency text NOT NULL,
    city text NOT NULL,
    latitude double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    service_radius_km integer NOT NULL CHECK (service_radius_km BETWEEN 1 AND 500),
    availability text NOT NULL CHECK (availability IN ('available', 'limited', 'unavailable')),
    -- Facts the workflows establish, copied here by refresh_member_facts() (never by the API).
    verified_steps text[] NOT NULL DEFAULT '{}',
    rating_count integer NOT NULL DEFAULT 0,
    rating_sum integer NOT NULL DEFAULT 0,
    completed_contracts integer NOT NULL DEFAULT 0,
    response_minutes integer,
    active_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    search tsvector GENERATED ALWAYS AS (search_document(headline, skills, bio)) STORED,
    geo_cell integer GENERATED ALWAYS AS (geo_cell(latitude, longitude)) STORED,
    rating_milli integer GENERATED ALWAYS AS (rating_milli(rating_count, rating_sum)) STORED,
    -- Standing plus recency, 10 points per day of activity, in milliseconds of activity
    -- (1 point = 8,640,000 ms) so that ties are rare. Linear in time, so the order it gives
    -- never changes as the clock moves and a stored index can serve it.
    rank_base bigint GENERATED ALWAYS AS (
        member_standing(verified_steps, rating_count, rating_sum)::bigint * 8640000
        + epoch_ms(active_at)
    ) STORED
);
ALTER TABLE worker_profiles ALTER COLUMN search SET STATISTICS 1000;
ALTER TABLE worker_profiles ALTER COLUMN geo_cell SET STATISTICS 1000;
-- GIN's pending list (new entries not yet merged) is read by every search until VACUUM merges
-- it; at the default 4 MB it added 15-20 ms to each search after a burst of writes. 128 kB
-- keeps most of the write batching and bounds what a search reads.
CREATE INDEX worker_profiles_search_idx ON worker_profiles USING gin (search)
    WITH (gin_pending_list_limit = 128);
-- Nearest first (sort=distance): KNN on the sphere. Within a radius: the cell index.
CREATE INDEX worker_profiles_geo_idx ON worker_profiles USING gist (ll_to_earth(latitude, longitude));
CREATE INDEX worker_profiles_cell_idx ON worker_profiles (geo_cell);
CREATE INDEX worker_profiles_rank_idx ON worker_profiles (rank_base DESC, user_id DESC);
CREATE INDEX worker_profiles_rating_idx ON worker_profiles (rating_milli DESC, user_id DESC);

-- Jobs: where on-site work happens. What search matches and ranks jobs on lives in
-- job_search below, written by the search queue's refresher, not in the projection's
-- writes: the search indexes on jobs made every job projection write 1.3-1.7x slower.
ALTER TABLE jobs ADD COLUMN city text;
ALTER TABLE jobs ADD COLUMN latitude double precision CHECK (latitude BETWEEN -90 AND 90);
ALTER TABLE jobs ADD COLUMN longitude double precision CHECK (longitude BETWEEN -180 AND 180);
ALTER TABLE jobs ADD CONSTRAINT jobs_location_whole CHECK ((latitude IS NULL) = (longitude IS NULL));
DROP INDEX jobs_search_idx;
DROP INDEX jobs_skills_idx;
ALTER TABLE jobs DROP COLUMN search;
-- Room on each page for the projection's updates to stay HOT (no index touched) when, as
-- for an application or a hire, no indexed column changes.
ALTER TABLE jobs SET (fillfactor = 85);

-- A job as search sees it: the same ranking scheme as profiles, with 100 points per day of
-- recency (jobs live 30 days; freshness matters more than for people): 1 point = 864,000 ms.
CREATE TABLE job_search (
    job_id uuid PRIMARY KEY REFERENCES jobs (id),
    client_id uuid NOT NULL,
    status text NOT NULL,
    budget_cents bigint NOT NULL,
    created_at timestamptz NOT NULL,
    latitude double precision,
    longitude double precision,
    client_standing integer NOT NULL,
    search tsvector NOT NULL,
    geo_cell integer GENERATED ALWAYS AS (geo_cell(latitude, longitude)) STORED,
    rank_base bigint GENERATED ALWAYS AS (
        client_standing::bigint * 864000 + epoch_ms(created_at)
    ) STORED
);
ALTER TABLE job_search ALTER COLUMN search SET STATISTICS 1000;
ALTER TABLE job_search ALTER COLUMN geo_cell SET STATISTICS 1000;
CREATE INDEX job_search_search_idx ON job_search USING gin (search)
    WITH (gin_pending_list_limit = 128);
CREATE INDEX job_search_rank_idx ON job_search (status, rank_base DESC, job_id DESC);
CREATE INDEX job_search_newest_idx ON job_search (status, created_at DESC, job_id DESC);
CREATE INDEX job_search_budget_idx ON job_search (status, budget_cents DESC, job_id DESC);
CREATE INDEX job_search_client_idx ON job_search (client_id);
CREATE INDEX job_search_geo_idx ON job_search USING gist (ll_to_earth(latitude, longitude))
    WHERE latitude IS NOT NULL;
CREATE INDEX job_search_cell_idx ON job_search (geo_cell) WHERE geo_cell IS NOT NULL;

-- The jobs (by id) as search sees them now: the posting, its status, its client's standing.
CREATE FUNCTION index_jobs(ids uuid[]) RETURNS integer LANGUAGE sql AS $$
    WITH indexed AS (
        INSERT INTO job_search (job_id, client_id, status, budget_cents, created_at, latitude,
                                longitude, client_standing, search)
        SELECT j.id, j.client_id, j.status, j.budget_cents, j.created_at, j.latitude,
               j.longitude, member_standing(u.verified_steps, u.rating_count, u.rating_sum),
               search_document(j.title, j.skills, j.description)
        FROM jobs j JOIN users u ON u.id = j.client_id
        WHERE j.id = ANY(ids)
        ON CONFLICT (job_id) DO UPDATE SET status = excluded.status,
                                           client_standing = excluded.client_standing
        RETURNING 1
    )
    SELECT count(*)::integer FROM indexed
$$;
"""

# The facts workflows establish (verification, revealed reviews, contracts accepted and
# completed) reach profiles and jobs through these triggers, which queue the person in the
# projection's own transaction, so no write path can forget them; refresh_member_facts()
# recomputes from the source rows (idempotent under retries), off the workflows' path.
TRIGGERS = r"""
-- Every fact about one person, recomputed from the source rows (so running it again changes
-- nothing): for the people search_queue names, for a profile being saved (PUT
-- /v1/me/profile), and for support when a fact looks wrong.
CREATE FUNCTION refresh_member_facts(uid uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    person users%ROWTYPE;
BEGIN
    -- The person's row is the lock every refresh and every profile write takes first, so two
    -- of them never interleave and the later one always reads what the earlier committed.
    SELECT * INTO person FROM users WHERE id = uid FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE users u SET rating_count = r.n, rating_sum = r.total
    FROM (SELECT count(*)::integer AS n, coalesce(sum(rating), 0)::integer AS total
          FROM reviews WHERE subject_id = uid AND revealed_at IS NOT NULL) r
    WHERE u.id = uid AND (u.rating_count, u.rating_sum) IS DISTINCT FROM (r.n, r.total)
    RETURNING u.* INTO person;
    IF NOT FOUND THEN
        SELECT * INTO person FROM users WHERE id = uid;
    END IF;
    UPDATE worker_profiles p SET
        verified_steps = person.verified_steps,
        rating_count = person.rating_count,
        rating_sum = person.rating_sum,
        completed_contracts = f.completed,
        response_minutes = f.response_minutes,
        -- Taking on and finishing work is activity, as much as editing the profile is.
        active_at = greatest(p.active_at, f.last_worked),
        updated_at = now()
    FROM (
        SELECT count(*) FILTER (WHERE stage = 'completed')::integer AS completed,
               max(updated_at) FILTER (WHERE stage IN ('active', 'completed')) AS last_worked,
               (percentile_disc(0.5) WITHIN GROUP (
                    ORDER BY epoch_ms((state->>'accepted_at')::timestamptz) - epoch_ms(created_at))
                FILTER (WHERE state->>'accepted_at' IS NOT NULL) / 60000)::integer
                   AS response_minutes
        FROM contracts WHERE worker_id = uid
    ) f
    WHERE p.user_id = uid
      AND (p.verified_steps, p.rating_count, p.rating_sum, p.completed_contracts,
           p.response_minutes, p.active_at)
          IS DISTINCT FROM (person.verified_steps, person.rating_count, person.rating_sum,
                            f.completed, f.response_minutes, greatest(p.active_at, f.last_worked));
    UPDATE job_search SET client_standing = member_standing(
        person.verified_steps, person.rating_count, person.rating_sum)
    WHERE client_id = uid AND status = 'open'
      AND client_standing <> member_standing(
          person.verified_steps, person.rating_count, person.rating_sum);
END
$$;

-- The workflows' projection writes only queue the person whose facts may have changed: one
-- row in search_queue, in the write's own transaction (nothing is lost, and a retried write
-- queues nothing new). search/freshness.py (in every worker process) takes queued people in
-- batches and runs refresh_member_facts() for them, usually within a second. Recomputing in
-- the triggers themselves made the projection writes 1.5-4x slower (make bench).
CREATE TABLE search_queue (
    kind text NOT NULL CHECK (kind IN ('person', 'job')),
    id uuid NOT NULL,
    queued_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id)
);

CREATE FUNCTION reviews_revealed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_queue (kind, id)
    SELECT DISTINCT 'person', n.subject_id FROM revealed n JOIN hidden o USING (contract_id, author_id)
    WHERE o.revealed_at IS NULL AND n.revealed_at IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER reviews_revealed AFTER UPDATE ON reviews
    REFERENCING OLD TABLE AS hidden NEW TABLE AS revealed
    FOR EACH STATEMENT EXECUTE FUNCTION reviews_revealed();

CREATE FUNCTION queue_worker() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_queue (kind, id) VALUES ('person', NEW.worker_id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- Accepting an offer sets the response time, completing one the count; other stage changes
-- and every other projection write skip the trigger at the cost of the WHEN test.
CREATE TRIGGER contract_facts_changed AFTER UPDATE OF stage ON contracts
    FOR EACH ROW WHEN (OLD.stage IS DISTINCT FROM NEW.stage AND NEW.stage IN ('active', 'completed'))
    EXECUTE FUNCTION queue_worker();

CREATE FUNCTION queue_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_queue (kind, id) VALUES ('person', NEW.id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER verification_facts_changed AFTER UPDATE OF verified_steps ON users
    FOR EACH ROW WHEN (OLD.verified_steps IS DISTINCT FROM NEW.verified_steps)
    EXECUTE FUNCTION queue_person();

-- A new job, and a job whose status changed (closed), is (re)indexed; other updates (an
-- application, a hire) change nothing search sees and skip the trigger.
CREATE FUNCTION queue_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_queue (kind, id) VALUES ('job', NEW.id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER job_posted AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION queue_job();
CREATE TRIGGER job_status_changed AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION queue_job();
"""


def upgrade() -> None:
    # cube + earthdistance ship with PostgreSQL (contrib): distances on the sphere, and a
    # GiST index that answers "within r km" and "nearest first" (see docs/search.md).
    op.execute("CREATE EXTENSION IF NOT EXISTS cube")
    op.execute("CREATE EXTENSION IF NOT EXISTS earthdistance")
    op.execute(FUNCTIONS)
    op.execute(SCHEMA)
    op.execute(TRIGGERS)


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER job_status_changed ON jobs;
        DROP TRIGGER job_posted ON jobs;
        DROP TRIGGER verification_facts_changed ON users;
        DROP TRIGGER contract_facts_changed ON contracts;
        DROP TRIGGER reviews_revealed ON reviews;
        DROP FUNCTION queue_job, queue_person, queue_worker, reviews_revealed,
            refresh_member_facts, index_jobs;
        DROP TABLE search_queue, job_search, worker_profiles;
        ALTER TABLE jobs RESET (fillfactor);
        ALTER TABLE jobs DROP CONSTRAINT jobs_location_whole, DROP COLUMN longitude,
            DROP COLUMN latitude, DROP COLUMN city;
        ALTER TABLE jobs ADD COLUMN search tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
            setweight(to_tsvector('english', skills_text(skills)), 'B') ||
            setweight(to_tsvector('english', coalesce(description, '')), 'C')
        ) STORED;
        CREATE INDEX jobs_search_idx ON jobs USING gin (search);
        CREATE INDEX jobs_skills_idx ON jobs USING gin (skills);
        ALTER TABLE users DROP COLUMN rating_sum, DROP COLUMN rating_count;
        DROP FUNCTION member_standing, rating_milli, geo_cell, epoch_ms, search_document,
            marked_lexemes;
        """
    )
