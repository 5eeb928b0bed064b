"""What PostgreSQL's own statistics say about the profiles, for the two choices its planner
gets wrong on filter-heavy searches (docs/search.md, "Where the planner needs help").

ANALYZE keeps, for the search document, the share of profiles holding each common lexeme
(``most_common_elems``: 10,000 of them, migration 0007 sets the column's statistics target),
and for ``rank_base`` a histogram of equal-count buckets. Reading them is one small query;
a search reads them at most every ``REFRESH_SECONDS`` and reuses them in between.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

REFRESH_SECONDS = 600.0  # ANALYZE (autovacuum) moves them slowly; ten minutes is fresh enough

_READ = sa.text(
    """
    SELECT
        (SELECT most_common_elems::text::text[] FROM pg_stats
          WHERE schemaname = current_schema() AND tablename = 'worker_profiles'
            AND attname = 'search') AS lexemes,
        (SELECT most_common_elem_freqs FROM pg_stats
          WHERE schemaname = current_schema() AND tablename = 'worker_profiles'
            AND attname = 'search') AS shares,
        (SELECT histogram_bounds::text::bigint[] FROM pg_stats
          WHERE schemaname = current_schema() AND tablename = 'worker_profiles'
            AND attname = 'rank_base') AS rank_bounds
    """
)


@dataclass(frozen=True)
class ProfileStatistics:
    """Shares of profiles, as of the last ANALYZE. Empty (nothing analysed yet) means every
    lexeme is rare and no range is wide: the searches then plan as PostgreSQL alone would."""

    lexeme_shares: Mapping[str, float] = field(default_factory=dict)
    rank_bounds: Sequence[int] = ()  # ascending; equal numbers of profiles between neighbours

    def share_with(self, lexeme: str) -> float:
        """The share of profiles whose search document holds ``lexeme`` (0 if it is not among
        the most common: at 500,000 bench profiles, the 10,000th holds 0.07 %)."""
        return self.lexeme_shares.get(lexeme, 0.0)

    def share_ranked_at_least(self, rank: int) -> float:
        """About the share of profiles whose ``rank_base`` is ``rank`` or more."""
        if len(self.rank_bounds) < 2:
            return 0.0
        below = bisect.bisect_left(self.rank_bounds, rank)
        return (len(self.rank_bounds) - below) / len(self.rank_bounds)


async def read_profile_statistics(conn: AsyncConnection) -> ProfileStatistics:
    row = (await conn.execute(_READ)).one()
    # most_common_elem_freqs ends with summary figures (the least and greatest share): zip
    # pairs each lexeme with its own share and leaves them out.
    shares = dict(zip(row.lexemes or (), row.shares or (), strict=False))
    return ProfileStatistics(lexeme_shares=shares, rank_bounds=tuple(row.rank_bounds or ()))


class StatisticsCache:
    """The last statistics read, read again when older than ``REFRESH_SECONDS``."""

    def __init__(self, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self._refresh = refresh_seconds
        self._current = ProfileStatistics()
        self._read_at: float | None = None

    async def get(self, conn: AsyncConnection) -> ProfileStatistics:
        now = time.monotonic()
        if self._read_at is None or now - self._read_at >= self._refresh:
            # Concurrent searches may both read; the read is idempotent and the last one wins.
            self._current = await read_profile_statistics(conn)
            self._read_at = now
        return self._current
