"""Search on PostgreSQL: full-text matching, filters, distance and ranking in one statement.

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

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncEngine
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
from models.tables import JOBS, USERS, WORKER_PROFILES
from search import cursors

TEXT_HEADLINE = 3000  # every query word in the headline (title)
TEXT_SKILLS = 2000  # every query word among the skills
# rank_base counts recency in milliseconds, so points are stored as milliseconds too: one
# point is worth 8,640,000 ms (a tenth of a day) of a profile's activity and 864,000 ms
# (a hundredth of a day) of a job's age (migration 0005).
PROFILE_POINT = 8_640_000
JOB_POINT = 864_000
# The four text levels and their points: (headline?, skills?) → points.
TEXT_LEVELS = ((True, True), (True, False), (False, True), (False, False))
VERIFIED = "identity"  # what `verified=true` means: the person's identity document was checked

# A search query is 1 row in 20,000 of the words people type; remembering the last few
# thousand conversions saves a round trip on every page after the first.
_TSQUERY_CACHE_SIZE = 4096
_LEXEME = re.compile(r"'((?:[^']|'')*)'")


@dataclass(frozen=True)
class TextQuery:
    """A search's words as three tsqueries: anywhere, in the headline, among the skills."""

    anywhere: str
    headline: str
    skills: str

    @classmethod
    def from_tsquery(cls, tsquery: str, typed: str) -> TextQuery | None:
        if not tsquery:
            return None  # nothing but stop words ("the", "a"): no text condition
        if _types_ahead(typed) and tsquery.endswith("'"):
            tsquery += ":*"
        return cls(tsquery, _mark(tsquery, "h"), _mark(tsquery, "s"))


def _types_ahead(typed: str) -> bool:
    """Whether the last word may be unfinished: it ends the text (no space or quote after it)
    and has at least three letters — a shorter prefix would match half the dictionary."""
    last = typed.split()[-1] if typed.split() else ""
    return typed == typed.rstrip() and last.isalnum() and len(last) >= 3


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


def _within(
    point: GeoPoint, radius_km: float, lat: ColumnElement[Any], lon: ColumnElement[Any]
) -> list[ColumnElement[bool]]:
    """Rows within the radius: the indexed bounding cube, then the exact sphere."""
    there, metres = sa.func.ll_to_earth(lat, lon), radius_km * 1000.0
    return [
        sa.func.earth_box(_earth(point), metres).op("@>", is_comparison=True)(there),
        sa.func.earth_distance(_earth(point), there) <= metres,
    ]


def _matches(search: ColumnElement[Any], tsquery: str) -> ColumnElement[bool]:
    return search.op("@@", is_comparison=True)(sa.cast(sa.literal(tsquery, sa.Text), TSQUERY))


class PostgresSearch:
    """The default :class:`search.SearchBackend`.

    ``engine`` should not prepare statements (``create_search_engine``): a prepared statement
    may be planned once for any words, and whether a word is in 1 row or in 300,000 decides
    between the GIN index and an ordered scan. Unprepared, each search is planned with its
    own words and PostgreSQL's statistics on them."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._tsqueries: OrderedDict[str, str] = OrderedDict()

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
        filters: list[ColumnElement[bool]] = []
        if query.skills:
            filters.append(p.c.skills.contains(list(query.skills)))
        if query.min_rating is not None:
            # The average shown (sum / count) at least min_rating, in integers.
            filters += [
                p.c.rating_count > 0,
                p.c.rating_sum * 100 >= round(query.min_rating * 100) * p.c.rating_count,
            ]
        if query.verified is not None:
            has = p.c.verified_steps.contains([VERIFIED])
            filters.append(has if query.verified else sa.not_(has))
        if query.max_rate_cents is not None:
            filters.append(p.c.hourly_rate_cents <= query.max_rate_cents)
        if query.near:
            filters += _within(query.near, query.radius, p.c.latitude, p.c.longitude)
        text = await self._text(query.q)
        ranked = self._ranked(p.c.search, p.c.user_id, sort, filters, text, query)

        distance = (
            sa.func.earth_distance(
                _earth(query.near), sa.func.ll_to_earth(p.c.latitude, p.c.longitude)
            )
            if query.near
            else sa.null()
        )
        statement = (
            sa.select(*_CARD_COLUMNS, distance.label("distance_m"), ranked.c.key.label("sort_key"))
            .select_from(
                ranked.join(p, p.c.user_id == ranked.c.id).join(USERS, USERS.c.id == p.c.user_id)
            )
            .order_by(*_direction(ranked.c.key, ranked.c.id, sort.descending))
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        items = [_card(r) for r in rows[: query.limit]]
        more = len(rows) > query.limit
        last = rows[query.limit - 1] if more else None
        return WorkerPage(
            items=items,
            next_cursor=cursors.encode(query, last["sort_key"], last["user_id"]) if last else None,
        )

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
        j = JOBS
        sort = {
            JobSort.RELEVANCE: _Sort(j.c.rank_base, True, True, JOB_POINT, _int),
            JobSort.NEWEST: _Sort(j.c.created_at, True, False, 1, _timestamp),
            JobSort.BUDGET: _Sort(j.c.budget_cents, True, False, 1, _int),
        }[query.order]
        filters: list[ColumnElement[bool]] = []
        if query.status != "all":
            filters.append(j.c.status == query.status)
        if query.skills:
            filters.append(j.c.skills.contains(list(query.skills)))
        if query.min_budget is not None:
            filters.append(j.c.budget_cents >= query.min_budget)
        if query.max_budget is not None:
            filters.append(j.c.budget_cents <= query.max_budget)
        if query.near:
            filters.append(j.c.latitude.isnot(None))  # lets the planner use the partial index
            filters += _within(query.near, query.radius, j.c.latitude, j.c.longitude)
        text = await self._text(query.q)
        ranked = self._ranked(j.c.search, j.c.id, sort, filters, text, query)
        distance = (
            sa.func.earth_distance(
                _earth(query.near), sa.func.ll_to_earth(j.c.latitude, j.c.longitude)
            )
            if query.near
            else sa.null()
        )
        statement = (
            sa.select(*_JOB_COLUMNS, distance.label("distance_m"), ranked.c.key.label("sort_key"))
            .select_from(ranked.join(j, j.c.id == ranked.c.id))
            .order_by(*_direction(ranked.c.key, ranked.c.id, sort.descending))
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        items = [_job(r) for r in rows[: query.limit]]
        more = len(rows) > query.limit
        last = rows[query.limit - 1] if more else None
        key = last and (
            last["sort_key"].isoformat() if query.order is JobSort.NEWEST else last["sort_key"]
        )
        return JobHitPage(
            items=items, next_cursor=cursors.encode(query, key, last["id"]) if last else None
        )

    # --- shared ---------------------------------------------------------------------------

    async def _text(self, q: str | None) -> TextQuery | None:
        """The words as tsqueries, parsed (and stemmed) by PostgreSQL: websearch syntax, so
        "quoted phrases", ``or`` and ``-word`` work as people expect from a search box."""
        if not q or not q.strip():
            return None
        tsquery = self._tsqueries.get(q)
        if tsquery is None:
            async with self._engine.connect() as conn:
                tsquery = (
                    await conn.execute(
                        sa.select(sa.cast(sa.func.websearch_to_tsquery("english", q), sa.Text))
                    )
                ).scalar_one()
            self._tsqueries[q] = tsquery
            if len(self._tsqueries) > _TSQUERY_CACHE_SIZE:
                self._tsqueries.popitem(last=False)
        else:
            self._tsqueries.move_to_end(q)
        return TextQuery.from_tsquery(tsquery, q)

    @staticmethod
    def _ranked(
        search: ColumnElement[Any],
        row_id: ColumnElement[Any],
        sort: _Sort,
        filters: Sequence[ColumnElement[bool]],
        text: TextQuery | None,
        query: WorkerQuery | JobQuery,
    ) -> sa.Subquery:
        """``(id, key)`` of the page's rows plus one (to know whether more follow), in order.

        Ranked by relevance with words, one ordered scan per text level, each with the level's
        points added to the stored key; otherwise one scan in the key's order."""
        after = None
        if query.cursor:
            key, last_id = cursors.decode(query, query.cursor)
            try:
                after = (sort.decode(key), UUID(last_id))
            except ValueError as exc:
                raise cursors.InvalidCursor("the cursor is not valid") from exc
        n = query.limit + 1
        levels: list[tuple[int, list[ColumnElement[bool]]]] = []
        if text is None:
            levels.append((0, []))
        elif not sort.ranked:
            levels.append((0, [_matches(search, text.anywhere)]))
        else:
            for in_headline, in_skills in TEXT_LEVELS:
                headline, skills = _matches(search, text.headline), _matches(search, text.skills)
                levels.append(
                    (
                        (TEXT_HEADLINE * in_headline + TEXT_SKILLS * in_skills) * sort.point,
                        [
                            _matches(search, text.anywhere),
                            headline if in_headline else sa.not_(headline),
                            skills if in_skills else sa.not_(skills),
                        ],
                    )
                )
        scans = []
        for points, conditions in levels:
            scan = sa.select(
                row_id.label("id"), (sort.key + points if points else sort.key).label("key")
            )
            scan = scan.where(*filters, *conditions)
            if after is not None:
                before = sa.tuple_(sort.key, row_id)
                bound = sa.tuple_(
                    sa.literal(after[0] - points if points else after[0]), sa.literal(after[1])
                )
                scan = scan.where(before < bound if sort.descending else before > bound)
            scans.append(scan.order_by(*_direction(sort.key, row_id, sort.descending)).limit(n))
        if len(scans) == 1:
            return scans[0].subquery("ranked")
        union = sa.union_all(*scans).subquery("levels")
        return (
            sa.select(union.c.id, union.c.key)
            .order_by(*_direction(union.c.key, union.c.id, True))
            .limit(n)
            .subquery("ranked")
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

# What a job hit shows: the job as GET /v1/jobs/{id} does, never the ranking internals.
_JOB_COLUMNS = tuple(c for c in JOBS.c if c.name not in ("search", "rank_base", "client_standing"))


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
    values = {c.name: row[c.name] for c in _JOB_COLUMNS}
    return JobHit.from_row(values, distance_km=_km(row["distance_m"]))
