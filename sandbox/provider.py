"""What the sandbox app needs from each provider sandbox it mounts, and the one adapter that
turns a provider's state object and its two routers into it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from fastapi import APIRouter


class ProviderSandbox(Protocol):
    name: str  # the path prefix: `/<name>` for the API, `/_sandbox/<name>` for control

    def api_router(self) -> APIRouter: ...

    def control_router(self) -> APIRouter: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def reset(self) -> None: ...


class Lifecycle(Protocol):
    """A provider's state: background work (webhooks, scheduled happenings) and its data."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def reset(self) -> None: ...


class MountedProvider:
    """A provider sandbox as the app mounts it: `/<name>` and `/_sandbox/<name>`."""

    def __init__(
        self,
        name: str,
        state: Lifecycle,
        api: Callable[[], APIRouter],
        control: Callable[[], APIRouter],
    ) -> None:
        self.name, self.state = name, state
        self._api, self._control = api, control

    def api_router(self) -> APIRouter:
        return self._api()

    def control_router(self) -> APIRouter:
        return self._control()

    async def start(self) -> None:
        await self.state.start()

    async def stop(self) -> None:
        await self.state.stop()

    def reset(self) -> None:
        self.state.reset()
