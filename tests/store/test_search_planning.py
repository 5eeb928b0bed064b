"""The help search gives PostgreSQL's planner (search/statistics.py: broad filters tested on
the rows instead of in GIN, wide bounds left out, lower levels asked for together) changes
how a search runs, never what it finds.

The bench's generator fills a database of its own with 3,000 profiles (Zipf words, the bench's
query classes), ANALYZEd. Every query is paged through under three statistics: the real ones,
none (PostgreSQL plans alone, as before any ANALYZE) and the extreme (every filter broad,
every bound wide). The pages must be the same, row for row."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest
import sqlalchemy as sa

from bench.search import create_database, migrate, search_engine, worker_cases
from bench.search_data import Loaded, SearchData, grow_to
from models.search import WorkerQuery
from search.postgres import BROAD_FACET, PostgresSearch, _worker_filters
from search.statistics import ProfileStatistics, StatisticsCache, read_profile_statistics

PROFILES = 3_000
QUERIES_PER_CLASS = 6
MAX_PAGES = 6


class Everything(Mapping[str, float]):
    """Every lexeme in every document: every filter is broad."""

    def __getitem__(self, lexeme: str) -> float:
        return 1.0

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class Fixed(StatisticsCache):
    def __init__(self, statistics: ProfileStatistics) -> None:
        super().__init__()
        self._fixed = statistics

    async def get(self, conn: Any) -> ProfileStatistics:
        return self._fixed


NONE = ProfileStatistics()
EXTREME = ProfileStatistics(lexeme_shares=Everything(), rank_bounds=(2**62, 2**62))


@pytest.fixture(scope="module")
async def bench_url(database_url: str) -> AsyncIterator[str]:
    url = await create_database(database_url, f"planning_{uuid.uuid4().hex[:12]}")
    await asyncio.to_thread(migrate, url)
    await grow_to(url, SearchData(seed=11, clients=200), PROFILES, Loaded())  # + VACUUM ANALYZE
    yield url


async def edge_queries(url: str) -> list[WorkerQuery]:
    """Filters exactly at some profiles' own values (their rate, their average to the
    hundredth, their skill), where a band and its exact condition must agree."""
    engine = search_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text(
                        "SELECT hourly_rate_cents, skills[1] AS skill,"
                        " floor(rating_sum * 100.0 / rating_count) / 100 AS average"
                        " FROM worker_profiles WHERE rating_count > 0"
                        " ORDER BY user_id LIMIT 8"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return [
        WorkerQuery(
            skills=[row.skill],
            max_rate_cents=row.hourly_rate_cents,
            min_rating=float(row.average),
            verified=verified,
        )
        for row in rows
        for verified in (None, True)
    ]


async def pages(backend: PostgresSearch, query: WorkerQuery) -> list[list[uuid.UUID]]:
    found: list[list[uuid.UUID]] = []
    for _ in range(MAX_PAGES):
        page = await backend.workers(query)
        found.append([card.user_id for card in page.items])
        if page.next_cursor is None:
            break
        query = query.model_copy(update={"cursor": page.next_cursor})
    return found


async def test_the_statistics_say_how_common_each_filter_is(bench_url: str) -> None:
    engine = search_engine(bench_url)
    try:
        async with engine.connect() as conn:
            statistics = await read_profile_statistics(conn)
            verified = (
                await conn.execute(
                    sa.text(
                        "SELECT avg((verified_steps @> '{identity}')::int)::float"
                        " FROM worker_profiles"
                    )
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    # ANALYZE samples every row of a table this small.
    assert statistics.share_with("v:identity") == pytest.approx(verified, abs=0.01)
    assert statistics.share_with("p:50000") > 0.99  # nearly everyone is under 500 $/h
    assert statistics.share_with("no such lexeme") == 0.0
    bounds = list(statistics.rank_bounds)
    assert len(bounds) > 10 and bounds == sorted(bounds)
    assert statistics.share_ranked_at_least(bounds[0]) == 1.0
    assert 0.4 < statistics.share_ranked_at_least(bounds[len(bounds) // 2]) < 0.6
    assert statistics.share_ranked_at_least(bounds[-1] + 1) == 0.0


def test_a_broad_filter_is_tested_on_the_rows_and_a_narrow_one_joins_the_words() -> None:
    query = WorkerQuery(
        q="plumber",
        skills=["plumbing", "hvac"],
        verified=True,
        min_rating=4.0,
        max_rate_cents=12000,
    )
    shares = {"k:plumbing": 0.55, "k:hvac": 0.06, "v:identity": 0.35, "r:40": 0.43, "p:12000": 0.96}
    assert max(s for s in shares.values() if s <= BROAD_FACET) < BROAD_FACET < 0.55
    facets, exact = _worker_filters(query, None, ProfileStatistics(lexeme_shares=shares))
    assert facets == "'k:hvac' & 'v:identity' & 'r:40'"
    tested = " ".join(str(condition) for condition in exact)
    assert "skills @>" in tested and "hourly_rate_cents <=" in tested
    assert "verified_steps" not in tested and "rating_sum" not in tested

    facets, exact = _worker_filters(query, None, NONE)  # nothing analysed: all in GIN
    assert facets == "'k:plumbing' & 'k:hvac' & 'v:identity' & 'r:40' & 'p:12000'"
    assert exact == []


@pytest.mark.parametrize("statistics", [NONE, EXTREME], ids=["no statistics", "every filter broad"])
async def test_planning_changes_how_a_search_runs_never_what_it_finds(
    bench_url: str, statistics: ProfileStatistics
) -> None:
    engine = search_engine(bench_url)
    analysed, other = PostgresSearch(engine), PostgresSearch(engine, Fixed(statistics))
    data = SearchData(seed=11, clients=200)
    compared = 0
    try:
        for case in worker_cases(data):
            rng = random.Random(f"planning/{case.name}")
            for _ in range(QUERIES_PER_CLASS):
                query = case.make(rng)
                assert isinstance(query, WorkerQuery)
                expected = await pages(analysed, query)
                assert await pages(other, query) == expected, (case.name, query)
                compared += sum(len(page) for page in expected)
        for query in await edge_queries(bench_url):
            expected = await pages(analysed, query)
            assert await pages(other, query) == expected, query
            if query.verified is None:
                assert expected[0], query  # at least the profile whose values these are
    finally:
        await engine.dispose()
    assert compared > 1_000  # the queries found enough to compare


@pytest.mark.parametrize("statistics", [NONE, EXTREME], ids=["in GIN", "tested on the rows"])
async def test_skills_that_look_like_tsquery_syntax_are_only_skills(
    bench_url: str, statistics: ProfileStatistics
) -> None:
    """A skill is a lexeme in GIN and an array element on the rows: quotes, backslashes,
    tsquery operators and SQL in it match nothing, and break neither form."""
    engine = search_engine(bench_url)
    backend = PostgresSearch(engine, Fixed(statistics))
    hostile = ["o'brien\\", "plumbing' | 'k:hvac", "a & !b", "x:*", "%", "'; drop table users; --"]
    try:
        for skill in hostile:
            page = await backend.workers(WorkerQuery(q="media", skills=[skill], verified=True))
            assert page.items == [] and page.next_cursor is None, skill
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT count(*) FROM users"))).scalar_one() > 0
    finally:
        await engine.dispose()
