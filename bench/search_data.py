"""Search bench data: worker profiles, their users, clients and jobs, generated from a seed and
loaded with COPY into the real, migrated tables (``users``, ``worker_profiles``, ``jobs``).

Every row is a pure function of ``(seed, kind, index)``: row 7 is the same row whether the
database was filled to 10,000 and then grown to 100,000 or filled to 100,000 at once, so the
bench measures growing sizes on one database (``grow_to``) and every run sees the same data.

What the data looks like, and why:

- Words follow Zipf's law (exponent 1.05) over a vocabulary of ~20,000: a few hundred real
  trade, service and tech words at the top ranks, then synthetic pronounceable words. The
  most common words are in nearly every document, which is the worst case for ranking every
  match; ``Vocabulary.common`` names them so the bench can query them on purpose.
- ~400 skills (real ones and "<kind> <skill>" specialisations) with Zipf popularity, 1-8 a row.
- ~60 real cities with Zipf populations; a worker's centre or a job's site is Gaussian around
  the city (standard deviation 8 km). 60 % of jobs have a location; the rest are remote.
- Ratings as people have them: most have none or a few reviews (geometric), averages 3-5
  from integer stars; verification steps email (common) … background (rare).
- Rates and budgets log-normal; jobs created within the last 30 days, 10 % closed.

Generated columns (``search``, ``rating_milli``, ``rank_base``) are PostgreSQL's to compute
and are never copied; the jobs' BEFORE INSERT trigger fills ``client_standing``.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import itertools
import math
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from models.money import MAX_CENTS

ZIPF_EXPONENT = 1.05
VOCABULARY_SIZE = 20_000
SKILL_COUNT = 400
CITY_SIGMA_KM = 8.0
KM_PER_DEGREE = 111.2
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$YmVuY2g$not-a-real-hash-bench-data-only"


def _words(text: str) -> list[str]:
    return text.split()


# Real words of the trade, most common first (they take the top Zipf ranks). No stop words:
# to_tsvector drops those, so they would never match anything.
TRADE_WORDS = _words("""
experienced repair install professional service home reliable licensed local work quality
years fast project clean custom design residential commercial kitchen bathroom certified
maintenance small business team new build friendly affordable emergency insured detail
renovation painting plumbing electrical cleaning moving garden lawn tile flooring roof
drywall carpentry furniture assembly handyman window door deck fence patio concrete brick
hvac heating cooling water leak drain pipe toilet sink shower faucet heater boiler wiring
outlet lighting panel switch fan appliance washer dryer dishwasher fridge oven stove
cabinet countertop backsplash shelving closet staircase basement attic garage driveway
siding gutter insulation mold pest removal junk hauling delivery storage packing office
apartment condo house tenant landlord property rental vacation weekly monthly daily
website app mobile web frontend backend api database cloud server developer engineer
react python javascript typescript django node wordpress shopify seo marketing content
writing copywriting editing translation proofreading design logo brand graphic video
photography photo editing animation illustration social media ads campaign email
bookkeeping accounting payroll tax invoice budget finance spreadsheet excel data analysis
report dashboard research survey virtual assistant admin scheduling calendar customer
support sales lead generation crm consulting strategy coaching tutoring teaching lesson
math science english spanish music piano guitar fitness trainer yoga nutrition wellness
childcare babysitting nanny eldercare caregiver pet dog walking sitting grooming cat
event planning wedding party catering chef cooking baking meal prep bartending waiter
driver courier truck van vehicle car auto mechanic detailing tire oil brake engine
security guard patrol installation setup troubleshooting network wifi computer laptop
printer phone tablet smart tv audio speaker camera alarm lock locksmith key glass
mirror curtain blind carpet rug upholstery sofa bed mattress table chair desk
paint wallpaper plaster stucco masonry stone paving landscaping tree trimming pruning
planting irrigation sprinkler snow shoveling pool spa hot tub sauna solar panel battery
generator welding metal steel aluminum wood lumber framing demolition excavation grading
inspection estimate quote permit code compliance safety warranty guarantee satisfaction
available weekend evening urgent flexible hourly fixed price rate experience portfolio
references background check verified insured bonded trusted rated review star
""")

SKILL_BASES = _words("""
plumbing electrical carpentry painting cleaning moving landscaping roofing flooring tiling
drywall hvac welding masonry handyman locksmith appliance-repair furniture-assembly
pest-control pool-maintenance window-cleaning gutter-cleaning pressure-washing snow-removal
tree-care irrigation fencing decking concrete insulation
react python javascript typescript django nodejs wordpress shopify php java golang rust
ios android flutter sql postgresql aws devops docker kubernetes machine-learning
data-analysis excel seo copywriting editing translation proofreading graphic-design
logo-design ui-design ux-research video-editing photography animation illustration
social-media google-ads email-marketing bookkeeping accounting payroll tax-preparation
virtual-assistant customer-support sales lead-generation project-management consulting
tutoring math-tutoring language-teaching music-lessons fitness-training yoga nutrition
childcare babysitting eldercare pet-sitting dog-walking grooming event-planning catering
cooking baking bartending driving delivery courier auto-repair car-detailing security
it-support networking computer-repair phone-repair home-theater smart-home solar
""")
SKILL_KINDS = _words("residential commercial emergency senior junior remote mobile certified")

# (name, latitude, longitude), largest first: Zipf populations follow this order.
CITIES: tuple[tuple[str, float, float], ...] = (
    ("New York", 40.7128, -74.0060),
    ("Los Angeles", 34.0522, -118.2437),
    ("London", 51.5074, -0.1278),
    ("Chicago", 41.8781, -87.6298),
    ("Houston", 29.7604, -95.3698),
    ("Toronto", 43.6532, -79.3832),
    ("Paris", 48.8566, 2.3522),
    ("Phoenix", 33.4484, -112.0740),
    ("Philadelphia", 39.9526, -75.1652),
    ("San Antonio", 29.4241, -98.4936),
    ("Berlin", 52.5200, 13.4050),
    ("San Diego", 32.7157, -117.1611),
    ("Dallas", 32.7767, -96.7970),
    ("Madrid", 40.4168, -3.7038),
    ("Sydney", -33.8688, 151.2093),
    ("San Jose", 37.3382, -121.8863),
    ("Austin", 30.2672, -97.7431),
    ("Montreal", 45.5019, -73.5674),
    ("Melbourne", -37.8136, 144.9631),
    ("Jacksonville", 30.3322, -81.6557),
    ("San Francisco", 37.7749, -122.4194),
    ("Columbus", 39.9612, -82.9988),
    ("Rome", 41.9028, 12.4964),
    ("Fort Worth", 32.7555, -97.3308),
    ("Indianapolis", 39.7684, -86.1581),
    ("Charlotte", 35.2271, -80.8431),
    ("Seattle", 47.6062, -122.3321),
    ("Denver", 39.7392, -104.9903),
    ("Vancouver", 49.2827, -123.1207),
    ("Washington", 38.9072, -77.0369),
    ("Boston", 42.3601, -71.0589),
    ("Barcelona", 41.3874, 2.1686),
    ("Nashville", 36.1627, -86.7816),
    ("Manchester", 53.4808, -2.2426),
    ("Detroit", 42.3314, -83.0458),
    ("Portland", 45.5152, -122.6784),
    ("Las Vegas", 36.1699, -115.1398),
    ("Munich", 48.1351, 11.5820),
    ("Memphis", 35.1495, -90.0490),
    ("Louisville", 38.2527, -85.7585),
    ("Baltimore", 39.2904, -76.6122),
    ("Milwaukee", 43.0389, -87.9065),
    ("Amsterdam", 52.3676, 4.9041),
    ("Albuquerque", 35.0844, -106.6504),
    ("Tucson", 32.2226, -110.9747),
    ("Dublin", 53.3498, -6.2603),
    ("Sacramento", 38.5816, -121.4944),
    ("Atlanta", 33.7490, -84.3880),
    ("Kansas City", 39.0997, -94.5786),
    ("Miami", 25.7617, -80.1918),
    ("Brisbane", -27.4698, 153.0251),
    ("Raleigh", 35.7796, -78.6382),
    ("Calgary", 51.0447, -114.0719),
    ("Minneapolis", 44.9778, -93.2650),
    ("Auckland", -36.8485, 174.7633),
    ("Tampa", 27.9506, -82.4572),
    ("New Orleans", 29.9511, -90.0715),
    ("Cleveland", 41.4993, -81.6944),
    ("Lisbon", 38.7223, -9.1393),
    ("Edinburgh", 55.9533, -3.1883),
)

STEPS = (("email", 0.90), ("phone", 0.60), ("identity", 0.35), ("background", 0.15))
AVAILABILITY = (("available", 0.6), ("limited", 0.3), ("unavailable", 0.1))
LOCATED_JOBS = 0.60
CLOSED_JOBS = 0.10
JOB_LIFETIME = timedelta(days=30)
WORKER_CHUNK = 10_000


def zipf_cumulative(n: int, exponent: float = ZIPF_EXPONENT) -> list[float]:
    """Cumulative weights of ranks 1..n under Zipf's law, for ``random.choices``."""
    return list(itertools.accumulate(1 / (rank**exponent) for rank in range(1, n + 1)))


def _synthetic_words(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    """Pronounceable nonsense (consonant-vowel syllables), 2-4 syllables, none a real word
    above; at least 5 letters, so none is an English stop word."""
    onsets = [*"bdfgklmnprstvz", "br", "tr", "st", "pl", "gr", "ch", "sh", "th"]
    vowels = [*"aeiou", "ai", "ou", "ea"]
    codas = ["", "", "", "n", "r", "l", "s", "m"]
    words: list[str] = []
    while len(words) < count:
        syllables = rng.choice((2, 2, 3, 3, 3, 4))
        word = "".join(
            rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables)
        )
        if len(word) >= 5 and word not in taken:
            taken.add(word)
            words.append(word)
    return words


@dataclass(frozen=True)
class Vocabulary:
    """The words and skills rows are made of, with their Zipf weights, so queries can be
    drawn the way the rows were (``draw``) or aimed at the worst case (``common``)."""

    words: tuple[str, ...]  # by rank: words[0] is the most common
    skills: tuple[str, ...]  # by popularity
    word_weights: Sequence[float] = field(repr=False)
    skill_weights: Sequence[float] = field(repr=False)

    @classmethod
    def build(cls, seed: int, size: int = VOCABULARY_SIZE) -> Vocabulary:
        rng = random.Random(f"{seed}/vocabulary")
        real = list(dict.fromkeys(TRADE_WORDS))
        synthetic = _synthetic_words(rng, size - len(real), set(real))
        # Real words hold the top ranks (in a seeded order), synthetic ones the long tail.
        rng.shuffle(real)
        skills = [s.replace("-", " ") for s in dict.fromkeys(SKILL_BASES)]
        specialised = [f"{kind} {base}" for base in skills for kind in SKILL_KINDS]
        rng.shuffle(specialised)
        skills = skills + specialised[: SKILL_COUNT - len(skills)]
        return cls(
            words=tuple(real + synthetic),
            skills=tuple(skills),
            word_weights=zipf_cumulative(size),
            skill_weights=zipf_cumulative(len(skills)),
        )

    def draw(self, rng: random.Random, k: int) -> list[str]:
        """``k`` words as text has them (Zipf; repeats allowed)."""
        return rng.choices(self.words, cum_weights=self.word_weights, k=k)

    def draw_distinct(self, rng: random.Random, k: int) -> list[str]:
        words: dict[str, None] = {}
        while len(words) < k:
            words.update(dict.fromkeys(self.draw(rng, k - len(words))))
        return list(words)

    def draw_skills(self, rng: random.Random, k: int) -> list[str]:
        skills: dict[str, None] = {}
        while len(skills) < k:
            skills.update(
                dict.fromkeys(
                    rng.choices(self.skills, cum_weights=self.skill_weights, k=k - len(skills))
                )
            )
        return list(skills)

    def common(self, n: int) -> list[str]:
        """The ``n`` most common words: matched by nearly every row (the worst case)."""
        return list(self.words[:n])

    def rank(self, word: str) -> int:
        return self.words.index(word)


def stable_uuid(seed: int, kind: str, index: int) -> uuid.UUID:
    digest = hashlib.blake2b(f"{seed}/{kind}/{index}".encode(), digest_size=16).digest()
    return uuid.UUID(bytes=digest, version=4)


def _weighted(rng: random.Random, options: Sequence[tuple[str, float]]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _geometric(rng: random.Random, mean: float) -> int:
    """0, 1, 2, … with the given mean (failures before the first success)."""
    p = 1 / (1 + mean)
    return int(math.log(1 - rng.random()) / math.log(1 - p))


def _lognormal_cents(rng: random.Random, median_cents: float, sigma: float) -> int:
    return max(1, min(MAX_CENTS, round(rng.lognormvariate(math.log(median_cents), sigma))))


@dataclass(frozen=True)
class Geography:
    cities: tuple[tuple[str, float, float], ...] = CITIES
    weights: Sequence[float] = field(default_factory=lambda: zipf_cumulative(len(CITIES)))

    def point(self, rng: random.Random) -> tuple[str, float, float]:
        """A city and a point around its centre (Gaussian, standard deviation 8 km)."""
        name, lat, lon = rng.choices(self.cities, cum_weights=self.weights)[0]
        lat_km, lon_km = rng.gauss(0, CITY_SIGMA_KM), rng.gauss(0, CITY_SIGMA_KM)
        latitude = max(-90.0, min(90.0, lat + lat_km / KM_PER_DEGREE))
        longitude = lon + lon_km / (KM_PER_DEGREE * math.cos(math.radians(lat)))
        longitude = (longitude + 180) % 360 - 180
        return name, latitude, longitude


def _sentence(vocabulary: Vocabulary, rng: random.Random, low: int, high: int) -> str:
    words = vocabulary.draw(rng, rng.randint(low, high))
    text = " ".join(words)
    return text[0].upper() + text[1:]


@dataclass(frozen=True)
class Member:
    """What a person's user row and profile share (the triggers keep them equal)."""

    verified_steps: list[str]
    rating_count: int
    rating_sum: int


def _member(rng: random.Random) -> Member:
    steps = [name for name, p in STEPS if rng.random() < p]
    # Most people have no or few reviews; a few have many.
    count = 0 if rng.random() < 0.45 else 1 + _geometric(rng, 6)
    average = rng.triangular(3.0, 5.0, 4.7)
    total = min(5 * count, max(count, round(average * count)))
    return Member(steps, count, total)


def _midnight(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class SearchData:
    """The generator: rows as tuples in ``*_COLUMNS`` order, each a function of its index."""

    seed: int = 42
    clients: int = 20_000
    # Timestamps are offsets from today's midnight (UTC), so jobs are live whenever the bench
    # runs (search skips expired ones) and a day's runs see identical rows.
    now: datetime = field(default_factory=lambda: _midnight(datetime.now(UTC)))
    vocabulary: Vocabulary = field(init=False)
    geography: Geography = field(default_factory=Geography)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vocabulary", Vocabulary.build(self.seed))

    def _rng(self, kind: str, index: int) -> random.Random:
        return random.Random(f"{self.seed}/{kind}/{index}")

    def worker_id(self, index: int) -> uuid.UUID:
        return stable_uuid(self.seed, "worker", index)

    def job_id(self, index: int) -> uuid.UUID:
        return stable_uuid(self.seed, "job", index)

    def client_id(self, index: int) -> uuid.UUID:
        return stable_uuid(self.seed, "client", index)

    def client_user(self, index: int) -> tuple[Any, ...]:
        rng = self._rng("client", index)
        m = _member(rng)
        created = self.now - timedelta(days=rng.uniform(30, 1500))
        return (
            self.client_id(index),
            f"client{index}@bench.example",
            PASSWORD_HASH,
            f"Client {index}",
            "client",
            len(m.verified_steps),
            m.verified_steps,
            m.rating_count,
            m.rating_sum,
            created,
        )

    def worker(self, index: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The worker's user row and profile row."""
        rng = self._rng("worker", index)
        v = self.vocabulary
        m = _member(rng)
        user_id = self.worker_id(index)
        created = self.now - timedelta(days=rng.uniform(1, 1500))
        active = self.now - timedelta(seconds=rng.uniform(0, 365 * 86_400))
        active = max(active, created)
        completed = m.rating_count + _geometric(rng, 2)
        response = None if completed == 0 else max(1, round(rng.lognormvariate(math.log(90), 1.2)))
        city, latitude, longitude = self.geography.point(rng)
        user = (
            user_id,
            f"worker{index}@bench.example",
            PASSWORD_HASH,
            f"Worker {index}",
            "worker",
            len(m.verified_steps),
            m.verified_steps,
            m.rating_count,
            m.rating_sum,
            created,
        )
        profile = (
            user_id,
            _sentence(v, rng, 4, 9),
            _sentence(v, rng, 20, 120),
            v.draw_skills(rng, rng.randint(1, 8)),
            _lognormal_cents(rng, 4_500, 0.55),
            "usd",
            city,
            latitude,
            longitude,
            rng.randint(5, 80),
            _weighted(rng, AVAILABILITY),
            m.verified_steps,
            m.rating_count,
            m.rating_sum,
            completed,
            response,
            active,
            created,
            max(active, created),
        )
        return user, profile

    def job(self, index: int) -> tuple[Any, ...]:
        rng = self._rng("job", index)
        v = self.vocabulary
        created = self.now - timedelta(seconds=rng.uniform(0, JOB_LIFETIME.total_seconds()))
        positions = rng.choice((1, 1, 1, 1, 2, 2, 3))
        located = rng.random() < LOCATED_JOBS
        city, latitude, longitude = self.geography.point(rng) if located else (None, None, None)
        status, close_reason, closed_at, hired = "open", None, None, 0
        if rng.random() < CLOSED_JOBS:
            status = "closed"
            close_reason = rng.choice(("filled", "closed_by_client"))
            closed_at = created + (self.now - created) * rng.random()
            hired = positions if close_reason == "filled" else 0
        return (
            self.job_id(index),
            self.client_id(rng.randrange(self.clients)),
            _sentence(v, rng, 4, 9),
            _sentence(v, rng, 20, 120),
            v.draw_skills(rng, rng.randint(1, 8)),
            _lognormal_cents(rng, 80_000, 1.0),
            "usd",
            positions,
            hired,
            located,
            status,
            close_reason,
            created,
            created + JOB_LIFETIME,
            closed_at,
            1,
            city,
            latitude,
            longitude,
        )

    def workers(self, start: int, stop: int) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
        return (self.worker(i) for i in range(start, stop))

    def jobs(self, start: int, stop: int) -> Iterator[tuple[Any, ...]]:
        return (self.job(i) for i in range(start, stop))


USER_COLUMNS = (
    ("id", "uuid"),
    ("email", "text"),
    ("password_hash", "text"),
    ("display_name", "text"),
    ("role", "text"),
    ("verification_level", "int4"),
    ("verified_steps", "text[]"),
    ("rating_count", "int4"),
    ("rating_sum", "int4"),
    ("created_at", "timestamptz"),
)
PROFILE_COLUMNS = (
    ("user_id", "uuid"),
    ("headline", "text"),
    ("bio", "text"),
    ("skills", "text[]"),
    ("hourly_rate_cents", "int8"),
    ("currency", "text"),
    ("city", "text"),
    ("latitude", "float8"),
    ("longitude", "float8"),
    ("service_radius_km", "int4"),
    ("availability", "text"),
    ("verified_steps", "text[]"),
    ("rating_count", "int4"),
    ("rating_sum", "int4"),
    ("completed_contracts", "int4"),
    ("response_minutes", "int4"),
    ("active_at", "timestamptz"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)
JOB_COLUMNS = (
    ("id", "uuid"),
    ("client_id", "uuid"),
    ("title", "text"),
    ("description", "text"),
    ("skills", "text[]"),
    ("budget_cents", "int8"),
    ("currency", "varchar"),
    ("positions", "int4"),
    ("hired_count", "int4"),
    ("on_site", "bool"),
    ("status", "varchar"),
    ("close_reason", "varchar"),
    ("created_at", "timestamptz"),
    ("expires_at", "timestamptz"),
    ("closed_at", "timestamptz"),
    ("version", "int8"),
    ("city", "text"),
    ("latitude", "float8"),
    ("longitude", "float8"),
)


def psycopg_url(database_url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://…``) as a libpq connection string."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def copy_rows(
    conn: psycopg.AsyncConnection[Any],
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Iterator[tuple[Any, ...]],
) -> int:
    """COPY ``rows`` into ``table`` (binary, typed); the number of rows written."""
    names = ", ".join(name for name, _ in columns)
    written = 0
    async with (
        conn.cursor() as cur,
        cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types([type_ for _, type_ in columns])
        for row in rows:
            await copy.write_row(row)
            written += 1
    return written


@dataclass
class Loaded:
    """How many rows of each kind the database holds, as far as this loader knows."""

    clients: int = 0
    workers: int = 0
    jobs: int = 0
    seconds: dict[int, float] = field(default_factory=dict)  # by size: COPY + VACUUM
    copy_seconds: dict[int, float] = field(default_factory=dict)  # by size: COPY only


async def count_loaded(conn: psycopg.AsyncConnection[Any]) -> Loaded:
    """What an earlier run left (rows are loaded in index order, so counts are indexes)."""
    cur = await conn.execute(
        "SELECT (SELECT count(*) FROM users WHERE role = 'client'),"
        " (SELECT count(*) FROM worker_profiles), (SELECT count(*) FROM jobs)"
    )
    clients, workers, jobs = await cur.fetchone() or (0, 0, 0)
    return Loaded(clients, workers, jobs)


async def grow_to(database_url: str, data: SearchData, size: int, loaded: Loaded) -> float:
    """Adds rows until ``size`` worker profiles and ``size`` jobs exist (clients first, all at
    once), then VACUUM ANALYZE, as autovacuum would have done on a live table; the seconds
    it took. Workers and jobs load at the same time on two connections (each COPY keeps one
    server process busy computing search documents and updating indexes). ``loaded`` is
    updated."""
    began = time.perf_counter()
    url = psycopg_url(database_url)

    async def connect() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(url, autocommit=True)

    async def workers() -> None:
        async with await connect() as conn:
            # A worker's user row and profile come from one draw; in chunks, so memory stays
            # small.
            for start in range(loaded.workers, size, WORKER_CHUNK):
                chunk = list(data.workers(start, min(start + WORKER_CHUNK, size)))
                async with conn.transaction():
                    await copy_rows(conn, "users", USER_COLUMNS, iter(u for u, _ in chunk))
                    await copy_rows(
                        conn, "worker_profiles", PROFILE_COLUMNS, iter(p for _, p in chunk)
                    )
                loaded.workers = start + len(chunk)

    async def jobs() -> None:
        async with await connect() as conn:
            loaded.jobs += await copy_rows(conn, "jobs", JOB_COLUMNS, data.jobs(loaded.jobs, size))

    async with await connect() as conn:
        if loaded.clients < data.clients:
            loaded.clients += await copy_rows(
                conn,
                "users",
                USER_COLUMNS,
                (data.client_user(i) for i in range(loaded.clients, data.clients)),
            )
        await asyncio.gather(workers(), jobs())
        # What the search queue's refresher does for each posted job (search/freshness.py),
        # in one statement: job_search rows for the jobs COPY queued.
        await conn.execute("DELETE FROM search_queue WHERE kind = 'job'")
        await conn.execute(
            "SELECT index_jobs(ARRAY(SELECT id FROM jobs j WHERE NOT EXISTS"
            " (SELECT 1 FROM job_search s WHERE s.job_id = j.id)))"
        )
        copied = time.perf_counter() - began
        await conn.execute("VACUUM (ANALYZE) users, worker_profiles, jobs, job_search")
    seconds = time.perf_counter() - began
    loaded.seconds[size] = round(seconds, 1)
    loaded.copy_seconds[size] = round(copied, 1)
    return seconds


def query_words(data: SearchData, rng: random.Random, words: int, *, top: int | None = None) -> str:
    """Search text of ``words`` distinct words: Zipf-drawn like the rows, or, with ``top``,
    from the ``top`` most common words (the worst case: nearly every row matches)."""
    if top is not None:
        return " ".join(rng.sample(data.vocabulary.common(top), words))
    return " ".join(data.vocabulary.draw_distinct(rng, words))


def city_centre(data: SearchData, rng: random.Random) -> tuple[str, float, float]:
    """A city drawn by population, like the rows' (its centre, not a point around it)."""
    geo = data.geography
    return geo.cities[bisect.bisect(geo.weights, rng.random() * geo.weights[-1])]
