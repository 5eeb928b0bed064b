"""What the sandbox app needs from each provider sandbox it mounts."""

from __future__ import annotations

from typing import Protocol

from fastapi import APIRouter


class ProviderSandbox(Protocol):
    name: str  # the path prefix: `/<name>` for the API, `/_sandbox/<name>` for control

    def api_router(self) -> APIRouter: ...

    def control_router(self) -> APIRouter: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def reset(self) -> None: ...
