"""bench/load.py: the load generator behind every make bench figure and its floor."""

from __future__ import annotations

import asyncio

import pytest

from bench.load import Run, load


def test_percentiles_are_nearest_rank() -> None:
    run = Run([n / 1000 for n in range(20, 0, -1)], wall=2.0)  # 1..20 ms, unsorted
    assert (run.count, run.per_s) == (20, 10.0)
    assert run.p50_ms == pytest.approx(10.0)  # index ceil(0.5 * 20) - 1 = 9
    assert run.p95_ms == pytest.approx(19.0)  # index ceil(0.95 * 20) - 1 = 18
    assert run.max_ms == pytest.approx(20.0)
    assert Run([0.005], wall=1.0).p95_ms == pytest.approx(5.0)


async def test_every_op_once_never_above_the_concurrency() -> None:
    seen: list[int] = []
    in_flight = peak = 0

    async def op(i: int) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001 * (i % 3))
        seen.append(i)
        in_flight -= 1

    run = await load(op, 50, 7)
    assert sorted(seen) == list(range(50))
    assert (run.count, peak) == (50, 7)
    assert run.wall >= max(run.samples)


async def test_an_exception_propagates_and_stops_the_rest() -> None:
    started: list[int] = []

    async def op(i: int) -> None:
        started.append(i)
        await asyncio.sleep(0.001)
        if i == 3:
            raise KeyError("boom")

    with pytest.raises(KeyError):
        await load(op, 1000, 4)
    assert len(started) < 1000
