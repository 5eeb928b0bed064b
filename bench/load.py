"""The one load generator behind every figure, the product's and its floors' alike, so a
figure and its floor differ only in the work measured, never in how it was driven or counted.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass
class Run:
    """The timed operations of one measurement.

    ``samples`` are seconds per operation (in completion order); ``wall`` is seconds from the
    first start to the last finish. Percentiles are nearest-rank: pN is the sample at index
    ``ceil(N/100 * n) - 1`` of the sorted samples (no interpolation), so every figure printed
    is a latency that was actually observed.
    """

    samples: list[float]
    wall: float

    @property
    def count(self) -> int:
        return len(self.samples)

    @property
    def per_s(self) -> float:
        return self.count / self.wall if self.wall > 0 else math.inf

    def percentile_ms(self, p: float) -> float:
        """Nearest-rank percentile, ``0 < p <= 1``, in milliseconds."""
        if not self.samples:
            raise ValueError("no samples")
        ordered = sorted(self.samples)
        return ordered[max(math.ceil(p * len(ordered)) - 1, 0)] * 1000

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(0.50)

    @property
    def p95_ms(self) -> float:
        return self.percentile_ms(0.95)

    @property
    def max_ms(self) -> float:
        return max(self.samples) * 1000

    def summary(self) -> str:
        return (
            f"n={self.count:4d}  p50={self.p50_ms:7.1f} ms  p95={self.p95_ms:7.1f} ms  "
            f"max={self.max_ms:7.1f} ms  {self.per_s:7.1f}/s"
        )


async def load(op: Callable[[int], Awaitable[object]], count: int, concurrency: int) -> Run:
    """Calls ``op(0) … op(count - 1)``, at most ``concurrency`` in flight, timing each call.

    ``concurrency`` lanes each take the next index as soon as their previous call returns, so
    the level holds steady until the last ``concurrency`` calls. The first exception cancels
    the calls in flight and propagates as itself (no ExceptionGroup).
    """
    if count < 0 or concurrency < 1:
        raise ValueError("count must be >= 0 and concurrency >= 1")
    samples: list[float] = []
    indexes = iter(range(count))  # shared: each lane pulls the next index

    async def lane() -> None:
        for i in indexes:
            started = time.perf_counter()
            await op(i)
            samples.append(time.perf_counter() - started)

    began = time.perf_counter()
    lanes = [asyncio.create_task(lane()) for _ in range(min(concurrency, count))]
    try:
        await asyncio.gather(*lanes)
    except BaseException:
        for task in lanes:
            task.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)
        raise
    return Run(samples, time.perf_counter() - began)
