"""Connecting to Temporal with the pydantic data converter, and registering search attributes."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, Interceptor
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode

from core.settings import Settings
from models import search_attributes


async def connect(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """A client; ``runtime`` carries the SDK's metrics (workers: ``metrics_runtime``), and
    ``interceptors`` the tracing (core/tracing.py). Workers built from this client inherit
    both: the SDK emits worker metrics through the client's runtime."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        tls=settings.temporal_tls or api_key is not None,
        api_key=api_key,
        runtime=runtime,
        interceptors=interceptors,
    )


def metrics_runtime(bind_address: str) -> Runtime:
    """A runtime whose SDK metrics (workflow/activity task latencies, failures, slots,
    sticky cache, poll results…) are served in Prometheus text at http://bind_address/metrics
    by the SDK's own exporter. Durations in seconds, the unit Prometheus expects; counters
    keep the SDK's names (temporal_workflow_completed, temporal_activity_execution_failed…)."""
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=bind_address, durations_as_seconds=True)
        )
    )


def dev_server_flags() -> list[str]:
    """``--search-attribute Name=Type`` flags for ``temporal server start-dev``."""
    names = {
        SearchAttributeIndexedValueType.KEYWORD: "Keyword",
        SearchAttributeIndexedValueType.INT: "Int",
        SearchAttributeIndexedValueType.BOOL: "Bool",
    }
    flags: list[str] = []
    for key in search_attributes.ALL:
        flags += ["--search-attribute", f"{key.name}={names[key.indexed_value_type]}"]
    return flags


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Adds the missing custom search attributes; returns the names it added."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as err:
        # The time-skipping test server cannot list them, but it can add them.
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in search_attributes.ALL
        if key.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
