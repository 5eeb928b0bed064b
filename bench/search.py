"""Search latency at growing sizes, beside its floors, and what fresh search costs the writes.

One throwaway embedded PostgreSQL (127.0.0.1, a free port), migrated with Alembic, grown
with ``bench.search_data`` to each size in turn (worker profiles and jobs, ``size`` of each;
VACUUM ANALYZE after each step, as autovacuum would have) — the same database throughout.
At each size, ``search.postgres.PostgresSearch`` answers each class of query serially (after
a warm-up of other queries of every class), and the figures are p50/p95/p99 (nearest rank,
bench.load.Run), the count, and the mean number of hits per page:

- ``single``: one Zipf-drawn word (as users type them, drawn the way the rows' text was);
- ``multi``: two or three Zipf-drawn words;
- ``common``: one or two of the five most common words (in nearly every row: the worst case);
- ``filtered``: a word plus skills, minimum rating, maximum rate and identity verified
  (workers) / skills and a budget range (jobs);
- ``geo`` and ``geo_q``: near a city centre within 10-25 km, without and with a word;
- ``browse``: no words at all (the default order);
- ``sort_*``: a word with each non-default sort (relevance is ``single``);
- ``page_2``, ``page_3``: the next pages of a popular word's results through
  ``next_cursor`` (earlier pages fetched untimed).

Searches go through the API's own search engine (``core.db.create_search_engine``, default
settings: nothing prepared, autocommit, a 3 s statement timeout; a search cancelled by it
counts as a sample of the time it took and as a ``timeouts``). A class whose p95 is over
50 ms gets its slowest query's statements EXPLAIN ANALYZEd into the output.

Floors, in the same run on the same server: ``pk_read`` (one row by primary key on the search
engine: the fixed cost of a query round trip) and ``naive_single``/``naive_common``
(``ts_rank`` over every match of ``websearch_to_tsquery('english', q)`` on the ``search``
column, ``ORDER BY rank DESC LIMIT 20``: the design the issue rejects; same connection
settings without the timeout, which it would overrun). Then ``write_cost``
(bench/search_writes.py).

    python -m bench.search --out --plans plans.txt      # 10k, 100k, 500k (17 min on 2 cores)
    python -m bench.search --sizes 10000,100000
    python -m bench.search --quick                      # tiny sizes, a few queries
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from pydantic import BaseModel
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.load import Run
from bench.search_data import Loaded, SearchData, city_centre, grow_to, query_words
from bench.search_writes import write_cost
from core.db import autocommit, create_search_engine
from core.settings import Settings
from devstack.postgres import EmbeddedPostgres
from devstack.processes import free_port
from models.search import GeoPoint, JobQuery, JobSort, WorkerQuery, WorkerSort
from search import SearchBackend
from search.postgres import PostgresSearch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results.json"
COMMON_TOP = 5  # "common" queries draw from this many most common words
POPULAR_TOP = 200  # paging queries draw from the popular words (they have pages to turn)
QUERY_CANCELED = "57014"  # SQLSTATE of a statement stopped by statement_timeout
EXPLAIN_OVER_MS = 50.0  # the p95 target: slower classes get their plans explained


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...] = (10_000, 100_000, 500_000)
    queries: int = 200  # per class and size (fewer if ``seconds`` runs out)
    seconds: float = 20.0  # per class and size
    warmup: int = 10  # per class and size, untimed, other queries than the measured ones
    clients: int = 20_000
    write_rows: int = 100_000  # users and jobs in each write-cost database
    write_rounds: int = 4
    write_per_round: int = 100  # job + contract + reviews + verification sequences
    seed: int = 42


QUICK = Plan(
    sizes=(300, 1_000),
    queries=5,
    seconds=5.0,
    warmup=1,
    clients=50,
    write_rows=300,
    write_rounds=2,
    write_per_round=5,
)


def search_engine(database_url: str) -> AsyncEngine:
    """The engine the API searches with (``core.db.create_search_engine``: its own pool,
    nothing prepared, autocommit, the statement timeout), with default settings."""
    required = {name: "x" * 32 for name, f in Settings.model_fields.items() if f.is_required()}
    return create_search_engine(Settings.model_validate(required | {"database_url": database_url}))


def floor_engine(database_url: str) -> AsyncEngine:
    """The search engine's connections without its statement timeout, which the naive
    ranking would overrun at 500,000 rows (the point of measuring it)."""
    return create_async_engine(
        database_url, isolation_level="AUTOCOMMIT", connect_args={"prepare_threshold": None}
    )


# --- queries ------------------------------------------------------------------------------

MakeQuery = Callable[[random.Random], BaseModel]


@dataclass(frozen=True)
class Case:
    name: str
    make: MakeQuery
    page: int = 1  # which page is timed (earlier ones are fetched untimed)


def _near(data: SearchData, rng: random.Random) -> dict[str, Any]:
    _, latitude, longitude = city_centre(data, rng)
    return {
        "near": GeoPoint(latitude=latitude, longitude=longitude),
        "radius_km": rng.randint(10, 25),
    }


def _popular(data: SearchData, rng: random.Random) -> str:
    v = data.vocabulary
    return rng.choices(v.words[:POPULAR_TOP], cum_weights=v.word_weights[:POPULAR_TOP])[0]


def worker_cases(data: SearchData) -> list[Case]:
    def q(rng: random.Random, words: int = 1) -> str:
        return query_words(data, rng, words)

    def skills(rng: random.Random) -> list[str]:
        return data.vocabulary.draw_skills(rng, 1)

    return [
        Case("single", lambda r: WorkerQuery(q=q(r))),
        Case("multi", lambda r: WorkerQuery(q=q(r, r.randint(2, 3)))),
        Case(
            "common", lambda r: WorkerQuery(q=query_words(data, r, r.randint(1, 2), top=COMMON_TOP))
        ),
        Case(
            "filtered",
            lambda r: WorkerQuery(
                q=q(r),
                skills=skills(r),
                min_rating=r.choice((3.5, 4.0, 4.5)),
                max_rate_cents=r.choice((3_000, 5_000, 8_000, 12_000)),
                verified=True,
            ),
        ),
        Case("geo", lambda r: WorkerQuery(**_near(data, r))),
        Case("geo_q", lambda r: WorkerQuery(q=q(r), **_near(data, r))),
        Case("browse", lambda r: WorkerQuery()),
        Case("sort_rating", lambda r: WorkerQuery(q=q(r), sort=WorkerSort.RATING)),
        Case(
            "sort_distance",
            lambda r: WorkerQuery(q=q(r), sort=WorkerSort.DISTANCE, **_near(data, r)),
        ),
        Case("page_2", lambda r: WorkerQuery(q=_popular(data, r)), page=2),
        Case("page_3", lambda r: WorkerQuery(q=_popular(data, r)), page=3),
    ]


def job_cases(data: SearchData) -> list[Case]:
    def q(rng: random.Random, words: int = 1) -> str:
        return query_words(data, rng, words)

    def budget(rng: random.Random) -> dict[str, int]:
        low = rng.choice((10_000, 50_000, 100_000))
        return {"min_budget": low, "max_budget": low * rng.choice((5, 10, 20))}

    return [
        Case("single", lambda r: JobQuery(q=q(r))),
        Case("multi", lambda r: JobQuery(q=q(r, r.randint(2, 3)))),
        Case("common", lambda r: JobQuery(q=query_words(data, r, r.randint(1, 2), top=COMMON_TOP))),
        Case(
            "filtered",
            lambda r: JobQuery(q=q(r), skills=data.vocabulary.draw_skills(r, 1), **budget(r)),
        ),
        Case("geo", lambda r: JobQuery(**_near(data, r))),
        Case("geo_q", lambda r: JobQuery(q=q(r), **_near(data, r))),
        Case("browse", lambda r: JobQuery()),
        Case("sort_newest", lambda r: JobQuery(q=q(r), sort=JobSort.NEWEST)),
        Case("sort_budget", lambda r: JobQuery(q=q(r), sort=JobSort.BUDGET)),
        Case("page_2", lambda r: JobQuery(q=_popular(data, r)), page=2),
        Case("page_3", lambda r: JobQuery(q=_popular(data, r)), page=3),
    ]


class Statements:
    """The SQL an engine sends while ``recording`` (for EXPLAIN of the slowest search)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.recording = False
        self.sent: list[tuple[str, Any]] = []
        sa.event.listen(engine.sync_engine, "before_cursor_execute", self._sent)

    def _sent(self, _c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.recording:
            self.sent.append((statement, parameters))

    @contextlib.contextmanager
    def record(self) -> Iterator[list[tuple[str, Any]]]:
        self.sent, self.recording = [], True
        try:
            yield self.sent
        finally:
            self.recording = False


@dataclass
class Figures:
    run: Run
    hits: int = 0
    no_page: int = 0  # paging queries whose earlier page had no next_cursor (not timed)
    timeouts: int = 0  # searches PostgreSQL cancelled at the search statement timeout
    slowest: list[tuple[str, Any]] = field(default_factory=list)  # its statements

    def summary(self) -> dict[str, Any]:
        if not self.run.samples:
            return {"count": 0, "no_page": self.no_page}
        return {
            "p50": round(self.run.p50_ms, 2),
            "p95": round(self.run.p95_ms, 2),
            "p99": round(self.run.percentile_ms(0.99), 2),
            "count": self.run.count,
            "mean_hits": round(self.hits / self.run.count, 1),
            **({"no_page": self.no_page} if self.no_page else {}),
            **({"timeouts": self.timeouts} if self.timeouts else {}),
        }


async def measure_case(
    search: Callable[[Any], Awaitable[Any]],
    case: Case,
    rng: random.Random,
    count: int,
    seconds: float,
    statements: Statements | None = None,
) -> Figures:
    figures = Figures(Run([], 0.0))
    deadline = time.monotonic() + seconds
    began = time.perf_counter()
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        query: Any = case.make(rng)
        page = None
        for _ in range(case.page - 1):
            page = await search(query)
            if page.next_cursor is None:
                break
            query = query.model_copy(update={"cursor": page.next_cursor})
        if page is not None and page.next_cursor is None:
            figures.no_page += 1
            continue
        recorder: contextlib.AbstractContextManager[list[tuple[str, Any]]] = (
            statements.record() if statements else contextlib.nullcontext([])
        )
        with recorder as sent:
            started = time.perf_counter()
            try:
                figures.hits += len((await search(query)).items)
            except DBAPIError as err:
                # Cancelled at the search engine's statement timeout: the person waited
                # this long for an error, so it counts as a sample (and as a timeout).
                if getattr(err.orig, "sqlstate", None) != QUERY_CANCELED:
                    raise
                figures.timeouts += 1
            elapsed = time.perf_counter() - started
        if elapsed > max(figures.run.samples, default=0):
            figures.slowest = list(sent)
        figures.run.samples.append(elapsed)
    figures.run.wall = time.perf_counter() - began
    return figures


# --- floors -------------------------------------------------------------------------------

NAIVE = {
    "workers": sa.text(
        "SELECT user_id, ts_rank(search, query) AS rank"
        " FROM worker_profiles, websearch_to_tsquery('english', :q) AS query"
        " WHERE search @@ query ORDER BY rank DESC LIMIT 20"
    ),
    "jobs": sa.text(
        "SELECT job_id, ts_rank(search, query) AS rank"
        " FROM job_search, websearch_to_tsquery('english', :q) AS query"
        " WHERE status = 'open' AND search @@ query ORDER BY rank DESC LIMIT 20"
    ),
}
# Every column a card shows (not the search document): one row by its key.
PK_READ = {
    "workers": sa.text(
        "SELECT user_id, headline, skills, hourly_rate_cents, currency, city, service_radius_km,"
        " availability, verified_steps, rating_count, rating_sum, completed_contracts,"
        " response_minutes FROM worker_profiles WHERE user_id = :id"
    ),
    "jobs": sa.text(
        "SELECT id, client_id, title, description, skills, budget_cents, currency, positions,"
        " hired_count, on_site, status, close_reason, created_at, expires_at, city, latitude,"
        " longitude FROM jobs WHERE id = :id"
    ),
}


@dataclass(frozen=True)
class Engines:
    search: AsyncEngine  # the API's search engine: searches and the primary-key floor
    floor: AsyncEngine  # the same without the statement timeout: naive ranking, EXPLAIN

    async def dispose(self) -> None:
        await self.search.dispose()
        await self.floor.dispose()


async def floors(
    engines: Engines, data: SearchData, side: str, size: int, plan: Plan
) -> dict[str, Any]:
    async def statement(stmt: sa.TextClause, params: dict[str, Any]) -> int:
        engine = engines.search if stmt is PK_READ[side] else engines.floor
        async with autocommit(engine) as conn:
            return len((await conn.execute(stmt, params)).all())

    id_of = data.worker_id if side == "workers" else data.job_id
    cases: dict[str, tuple[sa.TextClause, Callable[[random.Random], dict[str, Any]]]] = {
        "pk_read": (PK_READ[side], lambda r: {"id": id_of(r.randrange(size))}),
        "naive_single": (NAIVE[side], lambda r: {"q": query_words(data, r, 1)}),
        "naive_common": (
            NAIVE[side],
            lambda r: {"q": query_words(data, r, r.randint(1, 2), top=COMMON_TOP)},
        ),
    }
    out: dict[str, Any] = {}
    for name, (stmt, params) in cases.items():
        rng = random.Random(f"{plan.seed}/floor/{side}/{name}/{size}")
        for _ in range(min(plan.warmup, 1 if name.startswith("naive") else 10)):
            await statement(stmt, params(rng))
        figures = Figures(Run([], 0.0))
        deadline = time.monotonic() + plan.seconds
        began = time.perf_counter()
        for _ in range(plan.queries):
            if time.monotonic() > deadline:
                break
            p = params(rng)
            started = time.perf_counter()
            figures.hits += await statement(stmt, p)
            figures.run.samples.append(time.perf_counter() - started)
        figures.run.wall = time.perf_counter() - began
        out[name] = figures.summary()
    return out


# --- one size -----------------------------------------------------------------------------


async def explain(engine: AsyncEngine, sent: list[tuple[str, Any]]) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement a search sent, plan lines prefixed by the
    statement's number."""
    lines: list[str] = []
    async with autocommit(engine) as conn:
        for n, (statement, parameters) in enumerate(sent, start=1):
            rows = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            lines += [f"[{n}] {row[0]}" for row in rows]
    return lines


async def measure_size(
    engines: Engines,
    backend: SearchBackend,
    data: SearchData,
    size: int,
    plan: Plan,
    statements: Statements | None = None,
    plans: list[str] | None = None,
) -> dict[str, Any]:
    """Every class on both sides, then the floors. A class whose p95 is over the target
    (``EXPLAIN_OVER_MS``) gets its slowest query's plans (EXPLAIN ANALYZE, run again now),
    printed and added to ``plans`` (they are too long for results.json)."""
    result: dict[str, Any] = {}
    for side, cases, search in (
        ("workers", worker_cases(data), backend.workers),
        ("jobs", job_cases(data), backend.jobs),
    ):
        for case in cases:  # warm-up: every class, other draws than the measured ones
            warm = random.Random(f"{plan.seed}/warm/{side}/{case.name}/{size}")
            await measure_case(search, case, warm, plan.warmup, plan.seconds)
        figures = {}
        for case in cases:
            rng = random.Random(f"{plan.seed}/{side}/{case.name}")
            measured = await measure_case(search, case, rng, plan.queries, plan.seconds, statements)
            figures[case.name] = measured.summary()
            if measured.run.samples and measured.run.p95_ms > EXPLAIN_OVER_MS:
                title = f"{side} {case.name} at {size:,}: p95 {measured.run.p95_ms:.1f} ms"
                explained = [title, *await explain(engines.floor, measured.slowest)]
                figures[case.name]["explained"] = True
                print("\n".join(explained), flush=True)
                if plans is not None:
                    plans += explained
        result[side] = figures
        result[f"{side}_floors"] = await floors(engines, data, side, size, plan)
    return result


def table(size: int, figures: dict[str, Any]) -> str:
    lines = [f"size {size:,} (worker profiles and jobs, each); load {figures['load_seconds']} s"]
    header = f"  {'':<22}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'n':>6}{'hits':>7}"
    for side in ("workers", "jobs"):
        lines += [f" {side}", header]
        rows = {
            **figures[side],
            **{f"[floor] {k}": v for k, v in figures[f"{side}_floors"].items()},
        }
        for name, f in rows.items():
            if not f.get("count"):
                lines.append(f"  {name:<22}{'-':>9}{'-':>9}{'-':>9}{0:>6}")
                continue
            lines.append(
                f"  {name:<22}{f['p50']:>9.2f}{f['p95']:>9.2f}{f['p99']:>9.2f}"
                f"{f['count']:>6}{f['mean_hits']:>7.1f}"
                + (f"  ({f['timeouts']} timed out)" if f.get("timeouts") else "")
            )
    return "\n".join(lines)


# --- the database -------------------------------------------------------------------------


def migrate(database_url: str, revision: str = "head") -> None:
    """Alembic, in this process (migrations/env.py reads the URL from the config's
    attributes); blocking, so call it in a thread from async code."""
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, revision)


@contextlib.asynccontextmanager
async def scratch_postgres() -> AsyncIterator[EmbeddedPostgres]:
    """A throwaway embedded PostgreSQL on a free 127.0.0.1 port, stopped whatever happens."""
    with tempfile.TemporaryDirectory(prefix="tempwork-search-") as tmp:
        pg = EmbeddedPostgres(Path(tmp), free_port(), durable=False)
        try:
            await asyncio.to_thread(pg.start)
            yield pg
        finally:
            await asyncio.to_thread(pg.stop)


async def create_database(url: str, name: str) -> str:
    """A new database on the server ``url`` points at; its URL."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def server_settings(engine: AsyncEngine) -> dict[str, str]:
    async with autocommit(engine) as conn:
        rows = await conn.execute(
            sa.text(
                # current_setting() says "1GB"; setting || unit said "1310728kB" (131072 x 8kB).
                "SELECT name, current_setting(name) FROM pg_settings WHERE name IN"
                " ('server_version', 'shared_buffers', 'work_mem', 'effective_cache_size',"
                " 'random_page_cost', 'jit')"
            )
        )
        return {str(name): str(value) for name, value in rows.all()}


async def search_bench(
    plan: Plan,
    *,
    write: bool = True,
    progress: Callable[[dict[str, Any]], None] | None = None,
    plans: list[str] | None = None,
) -> dict[str, Any]:
    """The whole measurement on a fresh server; the ``search`` section of results.json.

    The write cost runs right after the size equal to ``plan.write_rows`` is measured, with
    the search database itself as its head side (it holds exactly those rows then); its few
    hundred closed jobs and completed contracts change nothing the larger sizes measure."""
    began = time.perf_counter()
    data = SearchData(seed=plan.seed, clients=plan.clients)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan": asdict(plan),
        "sizes": {},
    }
    async with scratch_postgres() as pg:
        await asyncio.to_thread(migrate, pg.url)
        engines = Engines(search_engine(pg.url), floor_engine(pg.url))
        try:
            results["server"] = await server_settings(engines.floor)
            backend = PostgresSearch(engines.search)
            statements = Statements(engines.search)
            loaded = Loaded()
            for size in plan.sizes:
                seconds = await grow_to(pg.url, data, size, loaded)
                copied = loaded.copy_seconds[size]
                print(
                    f"search bench: loaded {size:,} in {seconds:.1f} s"
                    f" (COPY {copied:.1f} s, VACUUM ANALYZE {seconds - copied:.1f} s)",
                    flush=True,
                )
                figures = {"load_seconds": round(seconds, 1), "copy_seconds": copied}
                figures |= await measure_size(engines, backend, data, size, plan, statements, plans)
                results["sizes"][str(size)] = figures
                print(table(size, figures), flush=True)
                if progress:
                    progress(results)
                if write and size == plan.write_rows:
                    results["write_cost"] = await measure_writes(pg.url, data, plan, pg.url)
            if write and "write_cost" not in results:
                head = await create_database(pg.url, "head_search")
                await asyncio.to_thread(migrate, head, "head")
                results["write_cost"] = await measure_writes(pg.url, data, plan, head)
        finally:
            await engines.dispose()
    results["wall_seconds"] = round(time.perf_counter() - began, 1)
    return results


async def measure_writes(
    server_url: str, data: SearchData, plan: Plan, head: str
) -> dict[str, Any]:
    before = await create_database(server_url, "before_search")
    await asyncio.to_thread(migrate, before, "0004")
    figures = await write_cost(
        before,
        head,
        data,
        rows=plan.write_rows,
        rounds=plan.write_rounds,
        per_round=plan.write_per_round,
        make_engine=create_async_engine,
        head_filled=head == server_url,
    )
    print("write cost (us per write):", json.dumps(figures["us_per_write"]), flush=True)
    print("write cost ratio head/0004:", json.dumps(figures["ratio"]), flush=True)
    return figures


def merge_into(out: Path, section: dict[str, Any]) -> None:
    """Writes ``section`` under ``search`` in ``out``, keeping every other key."""
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing["search"] = section
    out.write_text(json.dumps(existing, indent=2) + "\n")


def main() -> None:
    args = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    args.add_argument("--quick", action="store_true", help="tiny sizes and a few queries")
    args.add_argument("--sizes", help="comma-separated sizes, e.g. 10000,100000,500000")
    args.add_argument("--queries", type=int, help="queries per class and size")
    args.add_argument("--no-writes", action="store_true", help="skip the write-cost part")
    args.add_argument(
        "--out",
        type=Path,
        nargs="?",
        const=RESULTS,
        help=f"merge the figures under 'search' into this file (default {RESULTS.name})",
    )
    args.add_argument(
        "--plans", type=Path, help="write the EXPLAIN ANALYZE of slow classes to this file"
    )
    a = args.parse_args()
    plan = QUICK if a.quick else Plan()
    if a.sizes:
        plan = Plan(**{**asdict(plan), "sizes": tuple(int(s) for s in a.sizes.split(","))})
    if a.queries:
        plan = Plan(**{**asdict(plan), "queries": a.queries})
    out = a.out

    def progress(partial: dict[str, Any]) -> None:  # a long run keeps what it measured
        if out:
            merge_into(out, partial)

    plans: list[str] = []
    try:
        results = asyncio.run(
            search_bench(plan, write=not a.no_writes, progress=progress, plans=plans)
        )
    finally:
        if a.plans:
            a.plans.write_text("\n".join(plans) + "\n")
    if a.out:
        merge_into(a.out, results)
        print(f"wrote {a.out} ({results['wall_seconds']} s)")


if __name__ == "__main__":
    main()
