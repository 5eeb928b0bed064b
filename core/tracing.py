"""OpenTelemetry traces: API request → Temporal client → workflow → activities.

Off by default: with no OTLP endpoint configured there is no tracer provider, no Temporal
tracing interceptor and no span per request — nothing is built, so nothing costs anything.
With ``TEMPWORK_OTEL_EXPORTER_OTLP_ENDPOINT`` (or the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``)
set, spans are batched and sent by OTLP over HTTP (port 4318 of a collector, Jaeger, Tempo…).

The Temporal side is ``temporalio.contrib.opentelemetry.TracingInterceptor`` (the stable one;
the newer plugin is marked experimental): on the client it writes the current span context
into the headers of StartWorkflow/Update/Signal calls, and on the worker it continues that
trace into the workflow's RunWorkflow span and each activity's RunActivity span. Workflow
spans are zero-length markers (the interceptor ends them at once so replays stay
deterministic); activity spans have real durations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from temporalio.client import Interceptor


def tracer_provider(settings: Settings, service: str) -> TracerProvider | None:
    """The process's tracer provider, or None when tracing is off. Not installed globally:
    the provider is handed to whatever traces, so tests can run one of their own beside."""
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint:
        return None
    # Imported only when tracing is on: the exporter pulls in protobuf and requests.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": f"tempwork-{service}", "deployment.environment": settings.environment}
        )
    )
    # The standard endpoint variable names the collector's base; the HTTP exporter wants the
    # signal's path (it only appends it itself when it reads the variable on its own).
    url = endpoint.rstrip("/")
    if not url.endswith("/v1/traces"):
        url += "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    return provider


def temporal_interceptors(provider: TracerProvider | None) -> list[Interceptor]:
    """The client interceptors that carry traces through Temporal (none when tracing is off).
    An interceptor on the client is also used by every worker built from that client."""
    if provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(provider.get_tracer("tempwork.temporal"))]
