"""Search on PostgreSQL: full-text matching, filters, distance and ranking, read from indexes.

Relevance (docs/search.md has the why) is one integer per row:

    score = 3000 · [every query word is in the headline / job title]
          + 2000 · [every query word is among the skills]
          + standing      (rating: 1★ → 0 … 5★ → 2000, Bayesian; +250 per verification step)
          + recency       (profiles: +10 per day of activity; jobs: +100 per day since posted)

``standing + recency`` is the stored, indexed ``rank_base``; the text part takes one of four
values. So the best *n* rows of a query are the best *n* of four index-ordered scans, one per
text level — PostgreSQL stops each after *n* rows, or reads a small match set from the GIN
index — instead of scoring every match (``ts_rank`` over 250,000 matches was the 300 ms the
issue measured). Scores are integers, so a cursor's "after this row" is exact.

Distance uses earthdistance (great-circle metres, a GiST index on ``ll_to_earth``), the
nearest-first order its ``<->`` (straight-line distance through the earth, which orders points
exactly as the great-circle distance does).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from models.search import (
    GeoPoint,
    JobHit,
    JobHitPage,
    JobQuery,
    JobSort,
    Rating,
    WorkerCard,
    WorkerPage,
    WorkerProfilePublic,
    WorkerQuery,
    WorkerSort,
)
from models.tables import JOB_COLUMNS, JOB_SEARCH, JOBS, USERS, WORKER_PROFILES
from search import SearchTooSlow, cursors
from search.statistics import ProfileStatistics, StatisticsCache

TEXT_HEADLINE = 3000  # every query word in the headline (title)
TEXT_SKILLS = 2000  # every query word among the skills
# rank_base counts recency in milliseconds, so points are stored as milliseconds too: one
# point is worth 8,640,000 ms (a tenth of a day) of a profile's activity and 864,000 ms
# (a hundredth of a day) of a job's age (migration 0005).
PROFILE_POINT = 8_640_000
JOB_POINT = 864_000
# The four text levels and their points: (headline?, skills?) → points.
TEXT_LEVELS = ((True, True), (True, False), (False, True), (False, False))
QUERY_CANCELED = "57014"  # SQLSTATE of a statement stopped by statement_timeout
VERIFIED = "identity"  # what `verified=true` means: the person's identity document was checked
# The bands profile_facets() gives every profile (migration 0007): its average rating at
# least r/10 stars, its hourly rate at most p cents.
RATING_BANDS = tuple(range(10, 55, 5))
RATE_BANDS = (1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 15000, 20000, 30000, 50000)
# A filter more profiles pass than this is tested on the rows GIN finds, not intersected in
# GIN (_worker_filters), and a lower level's bound over more profiles than this is left out
# (_wide_bounds). Both measured at 500,000 profiles (docs/search.md).
BROAD_FACET = 0.5
WIDE_RANGE = 0.05
# A circle of up to ~60 km touches at most this many quarter-degree cells; a wider one is
# mostly made of rows anyway, and a tsquery of hundreds of alternatives costs more than it
# saves.
MAX_CELL_LEXEMES = 64

# Searches repeat (the next page, the popular words): remembering the last few thousand
# parsed queries saves the round trip that parses them.
_TSQUERY_CACHE_SIZE = 4096
_LEXEME = re.compile(r"'((?:[^']|'')*)'")


@dataclass(frozen=True)
class TextQuery:
    """A search's words as three tsqueries: anywhere, in the headline, among the skills."""

    anywhere: str
    headline: str
    skills: str
    # The skills filter alone guarantees every word among the skills (skills=plumbing and
    # q=plumbing): the skills level is certain, and the scans that exclude it are skipped —
    # PostgreSQL cannot know they are empty and would walk the whole index to find out.
    skills_say_it: bool = False

    @property
    def plain(self) -> bool:
        """Only words that must all be there (no ``or``, ``-word`` or phrase): then every word
        in the headline (or skills) implies every word anywhere, and the level's scan need not
        read the "anywhere" posting lists too — for a common word, most of the GIN work."""
        return not any(op in self.anywhere for op in ("|", "!", "<"))

    @classmethod
    def from_tsquery(cls, tsquery: str, typed: str, *, skills_say_it: bool) -> TextQuery | None:
        if not tsquery:
            return None  # nothing but stop words ("the", "a"): no text condition
        if _types_ahead(typed) and tsquery.endswith("'"):
            tsquery += ":*"
        return cls(tsquery, _mark(tsquery, "h"), _mark(tsquery, "s"), skills_say_it)


def _types_ahead(typed: str) -> bool:
    """Whether the text asks for its last word as a prefix: it ends in ``*`` after at least
    three letters (``electr*``), as a search-as-you-type box sends it. Only when asked: GIN
    reads a prefix's every posting in full (no skipping), which at 500,000 profiles cost
    20-40 ms for a common word that, matched whole, costs 1 ms. Fewer than three letters
    would match half the dictionary."""
    words = typed.split()
    last = words[-1] if words else ""
    return last.endswith("*") and len(last.rstrip("*")) >= 3 and last.rstrip("*").isalnum()


def _mark(tsquery: str, mark: str) -> str:
    """The same query over the lexemes search_document() marked (migration 0005)."""
    return _LEXEME.sub(lambda m: f"'{mark}:{m.group(1)}'", tsquery)


@dataclass(frozen=True)
class _Sort:
    key: ColumnElement[Any]  # the stored (indexed) key rows are ordered by
    descending: bool
    ranked: bool  # relevance: the key plus text points
    point: int  # what one point of relevance is in the key's units
    decode: Callable[[Any], Any]  # a cursor's key back to the key's type


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise cursors.InvalidCursor("the cursor is not valid")
    return value


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise cursors.InvalidCursor("the cursor is not valid")
    return float(value)


def _timestamp(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise cursors.InvalidCursor("the cursor is not valid") from exc


def _earth(point: GeoPoint) -> ColumnElement[Any]:
    return sa.func.ll_to_earth(point.latitude, point.longitude)


def _within(point: GeoPoint, radius_km: float, table: sa.Table) -> list[ColumnElement[bool]]:
    """Rows within the radius: in a grid cell the circle touches (indexed, and counted by
    ANALYZE, so the planner knows how many rows that is), then on the sphere exactly."""
    return [
        _in_cells(cells_around(point, radius_km), table),
        _near_enough(point, radius_km, table),
    ]


def _in_cells(cells: list[int], table: sa.Table) -> ColumnElement[bool]:
    return table.c.geo_cell == sa.any_(sa.literal(cells, ARRAY(sa.Integer)))


def _near_enough(point: GeoPoint, radius_km: float, table: sa.Table) -> ColumnElement[bool]:
    there = sa.func.ll_to_earth(table.c.latitude, table.c.longitude)
    return sa.func.earth_distance(_earth(point), there) <= radius_km * 1000.0


GRID = 4  # cells per degree: geo_cell() in migration 0005
_ROWS, _COLUMNS = 180 * GRID, 360 * GRID
# Kilometres per degree of latitude on earthdistance's sphere (radius 6,378.168 km), less a
# little so the cells always cover the circle.
_KM_PER_DEGREE = 111.0


def cells_around(point: GeoPoint, radius_km: float) -> list[int]:
    """Every grid cell a circle of ``radius_km`` around ``point`` may touch (its bounding box
    in degrees), across the antimeridian and up to the poles."""
    spread = radius_km / _KM_PER_DEGREE
    south, north = point.latitude - spread, point.latitude + spread
    rows = range(
        max(0, math.floor((south + 90) * GRID)), min(_ROWS - 1, math.floor((north + 90) * GRID)) + 1
    )
    widest = max(abs(south), abs(north))
    if widest >= 89.9 or spread / math.cos(math.radians(widest)) >= 180:
        columns: Iterable[int] = range(_COLUMNS)  # a circle around a pole: every longitude
    else:
        wide = spread / math.cos(math.radians(widest))
        first = math.floor((point.longitude - wide + 180) * GRID)
        last = math.floor((point.longitude + wide + 180) * GRID)
        columns = {c % _COLUMNS for c in range(first, last + 1)}
    return sorted(row * _COLUMNS + column for row in rows for column in columns)


def _worker_filters(
    query: WorkerQuery, text: TextQuery | None, statistics: ProfileStatistics
) -> tuple[str | None, list[ColumnElement[bool]]]:
    """The query's filters on profiles: a tsquery of the ones the search document carries as
    lexemes (migration 0007: skills, badges, rating and rate bands, grid cells), which joins
    the words in one GIN scan instead of being tested row by row, and the exact conditions
    (a band coarser than the filter asked for keeps its exact condition too).

    A filter most profiles pass (over ``BROAD_FACET`` of them, by the statistics: "at most
    120 $/h" at 96 %, not "verified" at 35 %) is only its exact condition. In GIN it would cost
    its whole posting list (about 10 ns per profile that holds it: 5 ms at 500,000) to remove
    a few rows, which the heap scan that reads the matches tests for almost nothing."""
    p = WORKER_PROFILES
    facets: list[str] = []
    exact: list[ColumnElement[bool]] = []

    def facet(lexeme: str) -> bool:
        """Whether ``lexeme`` joins the tsquery (it is not a broad one)."""
        if statistics.share_with(lexeme) > BROAD_FACET:
            return False
        facets.append(_lexeme(lexeme))
        return True

    for skill in query.skills:
        if not facet(f"k:{skill}"):
            exact.append(p.c.skills.contains([skill]))
    if query.verified:
        if not facet(f"v:{VERIFIED}"):
            exact.append(p.c.verified_steps.contains([VERIFIED]))
    elif query.verified is False:
        exact.append(sa.not_(p.c.verified_steps.contains([VERIFIED])))
    if query.min_rating is not None:
        # The average shown (sum / count) at least min_rating, in hundredths of a star.
        hundredths = round(query.min_rating * 100)
        band = max(RATING_BANDS[0], hundredths // 50 * 5)  # the half star at or below it
        if not facet(f"r:{band}") or band * 10 != hundredths:
            exact.append(p.c.rating_count > 0)
            exact.append(p.c.rating_sum * 100 >= hundredths * p.c.rating_count)
    if query.max_rate_cents is not None:
        ceiling = next((b for b in RATE_BANDS if b >= query.max_rate_cents), None)
        if ceiling is None or not facet(f"p:{ceiling}") or ceiling != query.max_rate_cents:
            exact.append(p.c.hourly_rate_cents <= query.max_rate_cents)
    if query.near:
        cells = cells_around(query.near, query.radius)
        if (text or facets) and len(cells) <= MAX_CELL_LEXEMES:
            # With other lexemes to intersect with, the cells join them in the GIN scan.
            facets.append("(" + " | ".join(_lexeme(f"g:{cell}") for cell in cells) + ")")
        else:
            # Alone, the cell index (whose counts ANALYZE keeps) lets the planner choose
            # between reading the circle and walking the rank index.
            exact.append(_in_cells(cells, p))
        exact.append(_near_enough(query.near, query.radius, p))
    return " & ".join(facets) or None, exact


def _wide_bounds(query: WorkerQuery, statistics: ProfileStatistics) -> Callable[[int], bool]:
    """Which lower levels' bounds (``rank_base >= floor``) are better left out of the SQL.

    With filters that ``rank_base`` rewards (a minimum rating, verified), the profiles that
    pass them crowd the top of the rank index, which PostgreSQL cannot know (it takes filters
    and order as independent). Given a bound over a wide range (more than ``WIDE_RANGE`` of
    the profiles), it intersects a bitmap of that whole range with the GIN matches: 10 ms to
    build for 76,000 profiles, on top of the GIN scan it does anyway. Without the bound, it
    plans the level as it plans a first page, and walks down the rank index (4 ms in the case
    measured) or reads the GIN matches alone. The rows below the floor are then thrown away."""
    if query.sort != WorkerSort.RELEVANCE or not (query.verified or query.min_rating is not None):
        return lambda floor: False
    return lambda floor: statistics.share_ranked_at_least(floor) > WIDE_RANGE


def _all_skills(skills: Sequence[str]) -> str:
    """Every one of the skills, whole: the search document's "k:" lexemes (migration 0005)."""
    return " & ".join(_lexeme(f"k:{skill}") for skill in skills)


def _lexeme(value: str) -> str:
    """A lexeme quoted for tsquery input, as it is (no stemming)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _matches(search: ColumnElement[Any], tsquery: str) -> ColumnElement[bool]:
    return search.op("@@", is_comparison=True)(sa.cast(sa.literal(tsquery, sa.Text), TSQUERY))


class PostgresSearch:
    """The default :class:`search.SearchBackend`.

    ``engine`` should not prepare statements (``create_search_engine``): a prepared statement
    may be planned once for any words, and whether a word is in 1 row or in 300,000 decides
    between the GIN index and an ordered scan. Unprepared, each search is planned with its
    own words and PostgreSQL's statistics on them."""

    def __init__(self, engine: AsyncEngine, statistics: StatisticsCache | None = None) -> None:
        self._engine = engine
        self._tsqueries: OrderedDict[tuple[str, tuple[str, ...]], tuple[str, bool]] = OrderedDict()
        self._statistics = statistics or StatisticsCache()

    # --- people ---------------------------------------------------------------------------

    async def workers(self, query: WorkerQuery) -> WorkerPage:
        p = WORKER_PROFILES
        sort = {
            WorkerSort.RELEVANCE: _Sort(p.c.rank_base, True, True, PROFILE_POINT, _int),
            WorkerSort.RATING: _Sort(p.c.rating_milli, True, False, 1, _int),
            WorkerSort.DISTANCE: _Sort(
                sa.func.ll_to_earth(p.c.latitude, p.c.longitude).op("<->", return_type=sa.Float)(
                    _earth(query.near) if query.near else sa.null()
                ),
                False,
                False,
                1,
                _float,
            ),
        }[query.sort]
        async with _searching(self._engine) as conn:
            text = await self._text(conn, query.q, query.skills)
            statistics = await self._statistics.get(conn)
            facets, filters = _worker_filters(query, text, statistics)
            top = await _top(
                conn,
                p.c.search,
                p.c.user_id,
                sort,
                facets,
                filters,
                text,
                query,
                _wide_bounds(query, statistics),
            )
            cards = (
                sa.select(*_CARD_COLUMNS, _distance(query.near, p).label("distance_m"))
                .select_from(p.join(USERS, USERS.c.id == p.c.user_id))
                .where(p.c.user_id == sa.any_(sa.literal([i for _, i in top], ARRAY(sa.Uuid))))
            )
            rows = {r["user_id"]: r for r in (await conn.execute(cards)).mappings()}
        items = [_card(rows[i]) for _, i in top[: query.limit] if i in rows]
        return WorkerPage(items=items, next_cursor=_next_cursor(query, top))

    async def worker(self, user_id: UUID) -> WorkerProfilePublic | None:
        p = WORKER_PROFILES
        statement = (
            sa.select(*_CARD_COLUMNS, p.c.bio, p.c.active_at, p.c.updated_at)
            .select_from(p.join(USERS, USERS.c.id == p.c.user_id))
            .where(p.c.user_id == user_id)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(statement)).mappings().first()
        if row is None:
            return None
        return WorkerProfilePublic(
            **_card(row).model_dump(),
            bio=row["bio"],
            active_at=row["active_at"],
            updated_at=row["updated_at"],
        )

    # --- jobs -----------------------------------------------------------------------------

    async def jobs(self, query: JobQuery) -> JobHitPage:
        # Matched and ranked on job_search (what the search queue indexed), shown from jobs
        # (the projection: a hit always says what the job says now).
        js, j = JOB_SEARCH, JOBS
        sort = {
            JobSort.RELEVANCE: _Sort(js.c.rank_base, True, True, JOB_POINT, _int),
            JobSort.NEWEST: _Sort(js.c.created_at, True, False, 1, _timestamp),
            JobSort.BUDGET: _Sort(js.c.budget_cents, True, False, 1, _int),
        }[query.order]
        filters: list[ColumnElement[bool]] = []
        if query.status != "all":
            filters.append(js.c.status == query.status)
        if query.min_budget is not None:
            filters.append(js.c.budget_cents >= query.min_budget)
        if query.max_budget is not None:
            filters.append(js.c.budget_cents <= query.max_budget)
        if query.near:
            filters += _within(query.near, query.radius, js)
        async with _searching(self._engine) as conn:
            text = await self._text(conn, query.q, query.skills)
            facets = _all_skills(query.skills) if query.skills else None
            top = await _top(conn, js.c.search, js.c.job_id, sort, facets, filters, text, query)
            hits = sa.select(*JOB_COLUMNS, _distance(query.near, j).label("distance_m")).where(
                j.c.id == sa.any_(sa.literal([i for _, i in top], ARRAY(sa.Uuid)))
            )
            rows = {r["id"]: r for r in (await conn.execute(hits)).mappings()}
        items = [_job(rows[i]) for _, i in top[: query.limit] if i in rows]
        return JobHitPage(items=items, next_cursor=_next_cursor(query, top))

    # --- shared ---------------------------------------------------------------------------

    async def _text(
        self, conn: AsyncConnection, q: str | None, skills: Sequence[str]
    ) -> TextQuery | None:
        """The words as tsqueries, parsed (and stemmed) by PostgreSQL: websearch syntax, so
        "quoted phrases", ``or`` and ``-word`` work as people expect from a search box."""
        if not q or not q.strip():
            return None
        cache_key = (q, tuple(skills))
        parsed = self._tsqueries.get(cache_key)
        if parsed is None:
            words = sa.func.websearch_to_tsquery("english", q)
            asked = sa.func.to_tsvector(
                "english", sa.func.skills_text(sa.literal(list(skills), ARRAY(sa.Text)))
            )
            row = (
                await conn.execute(
                    sa.select(sa.cast(words, sa.Text), asked.op("@@", is_comparison=True)(words))
                )
            ).one()
            parsed = self._tsqueries[cache_key] = (row[0], bool(row[1]))
            if len(self._tsqueries) > _TSQUERY_CACHE_SIZE:
                self._tsqueries.popitem(last=False)
        else:
            self._tsqueries.move_to_end(cache_key)
        tsquery, skills_say_it = parsed
        return TextQuery.from_tsquery(tsquery, q, skills_say_it=skills_say_it)


async def _top(
    conn: AsyncConnection,
    search: ColumnElement[Any],
    row_id: ColumnElement[Any],
    sort: _Sort,
    facets: str | None,
    filters: Sequence[ColumnElement[bool]],
    text: TextQuery | None,
    query: WorkerQuery | JobQuery,
    wide: Callable[[Any], bool] = lambda floor: False,
) -> list[tuple[Any, UUID]]:
    """``(key, id)`` of the page's rows plus one (to know whether more follow), in order.

    By relevance with words: one ordered scan per text level, best level first, each with its
    points added to the stored key. Once the page is full, a lower level only needs rows whose
    key can still beat the page's last (``key >= last - points``): an index range, not a walk
    through every row its words match, and often empty, so the remaining levels are asked for
    together, in one statement. ``wide(floor)`` says when such a bound is better left out
    (``_wide_bounds``). Otherwise: one scan in the key's order."""
    after = None
    if query.cursor:
        key, last_id = cursors.decode(query, query.cursor)
        try:
            after = (sort.decode(key), UUID(last_id))
        except ValueError as exc:
            raise cursors.InvalidCursor("the cursor is not valid") from exc
    n = query.limit + 1

    def scan(points: int, tsquery: str | None, floor: Any = None) -> sa.Select[Any]:
        statement = sa.select(
            row_id.label("id"), (sort.key + points if points else sort.key).label("key")
        ).where(*filters, *([_matches(search, tsquery)] if tsquery else []))
        if after is not None:
            before = sa.tuple_(sort.key, row_id)
            bound = sa.tuple_(
                sa.literal(after[0] - points if points else after[0]), sa.literal(after[1])
            )
            statement = statement.where(before < bound if sort.descending else before > bound)
        if floor is not None and not wide(floor):
            statement = statement.where(sort.key >= floor)
        return statement.order_by(*_direction(sort.key, row_id, sort.descending)).limit(n)

    found: list[tuple[Any, UUID]] = []
    levels = _levels(sort, text, facets)
    for i, (points, tsquery) in enumerate(levels):
        full = sort.ranked and len(found) >= n
        if full:
            last = found[n - 1][0]
            lower = [scan(p, q, floor=last - p) for p, q in levels[i:]]
            statement = lower[0] if len(lower) == 1 else sa.union_all(*lower)
        else:
            statement = scan(points, tsquery)
        found += [(row.key, row.id) for row in await conn.execute(statement)]
        found.sort(reverse=sort.descending)
        del found[n:]
        if full:
            break  # that statement asked for every lower level
    return found


def _next_cursor(query: WorkerQuery | JobQuery, top: list[tuple[Any, UUID]]) -> str | None:
    """The cursor after the page's last row, if ``_top`` found one more row than the page."""
    if len(top) <= query.limit:
        return None
    key, last_id = top[query.limit - 1]
    return cursors.encode(query, key.isoformat() if isinstance(key, datetime) else key, last_id)


def _levels(
    sort: _Sort, text: TextQuery | None, facets: str | None
) -> list[tuple[int, str | None]]:
    """(points, tsquery) per scan, best first. Each scan's text level and the facets are one
    tsquery, negations included (``'h:cat' & !'s:cat'``): GIN answers all of it, so the
    rows it returns are the level's and PostgreSQL never opens a row's document to test a
    condition (decompressing thousands of documents was most of a geo search's time)."""

    def both(*parts: str | None) -> str | None:
        present = [f"( {part} )" for part in parts if part]
        return " & ".join(present) or None

    if text is None:
        return [(0, both(facets))]
    if not sort.ranked:
        return [(0, both(text.anywhere, facets))]
    levels = []
    for in_headline, in_skills in TEXT_LEVELS:
        if text.skills_say_it and not in_skills:
            continue  # every row the skills filter keeps has the words among its skills
        skills = None if text.skills_say_it else text.skills if in_skills else f"!( {text.skills} )"
        levels.append(
            (
                (TEXT_HEADLINE * in_headline + TEXT_SKILLS * in_skills) * sort.point,
                both(
                    None if text.plain and (in_headline or in_skills) else text.anywhere,
                    text.headline if in_headline else f"!( {text.headline} )",
                    skills,
                    facets,
                ),
            )
        )
    return levels


@contextlib.asynccontextmanager
async def _searching(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A search connection; a statement PostgreSQL cancelled at the search time limit
    (``statement_timeout``, SQLSTATE 57014) becomes :class:`search.SearchTooSlow`."""
    try:
        async with engine.connect() as conn:
            yield conn
    except DBAPIError as err:
        if getattr(err.orig, "sqlstate", None) == QUERY_CANCELED:
            raise SearchTooSlow(str(err.orig).splitlines()[0]) from None
        raise


def _distance(point: GeoPoint | None, table: sa.Table) -> ColumnElement[Any]:
    if point is None:
        return sa.null()
    return sa.func.earth_distance(
        _earth(point), sa.func.ll_to_earth(table.c.latitude, table.c.longitude)
    )


def _direction(key: Any, row_id: Any, descending: bool) -> tuple[Any, Any]:
    return (key.desc(), row_id.desc()) if descending else (key.asc(), row_id.asc())


_CARD_COLUMNS = (
    WORKER_PROFILES.c.user_id,
    USERS.c.display_name,
    WORKER_PROFILES.c.headline,
    WORKER_PROFILES.c.skills,
    WORKER_PROFILES.c.hourly_rate_cents,
    WORKER_PROFILES.c.currency,
    WORKER_PROFILES.c.city,
    WORKER_PROFILES.c.service_radius_km,
    WORKER_PROFILES.c.availability,
    WORKER_PROFILES.c.verified_steps,
    WORKER_PROFILES.c.rating_count,
    WORKER_PROFILES.c.rating_sum,
    WORKER_PROFILES.c.completed_contracts,
    WORKER_PROFILES.c.response_minutes,
)


def _km(metres: float | None) -> float | None:
    return None if metres is None else round(metres / 1000, 1)


def _card(row: Any) -> WorkerCard:
    count = row["rating_count"]
    return WorkerCard(
        user_id=row["user_id"],
        display_name=row["display_name"],
        headline=row["headline"],
        skills=row["skills"],
        hourly_rate_cents=row["hourly_rate_cents"],
        currency=row["currency"],
        city=row["city"],
        service_radius_km=row["service_radius_km"],
        availability=row["availability"],
        badges=row["verified_steps"],
        rating=Rating(average=round(row["rating_sum"] / count, 2) if count else None, count=count),
        completed_contracts=row["completed_contracts"],
        response_minutes=row["response_minutes"],
        distance_km=_km(row.get("distance_m")),
    )


def _job(row: Any) -> JobHit:
    values = {c.name: row[c.name] for c in JOB_COLUMNS}
    return JobHit.from_row(values, distance_km=_km(row["distance_m"]))
