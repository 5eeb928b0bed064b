"""Traces from the API request through the Temporal client into the workflow and its
activities: what an engineer follows in Jaeger or Tempo when "hiring was slow".

The SDK's TracingInterceptor keeps a workflow's spans in the trace of the request that
started it (one trace per business process, rooted at that request); a later request's update
is a trace of its own, and the workflow's HandleUpdate span links to it.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan

from tests.api.helpers import apply, hire, post_job
from tests.conftest import Infra, eventually, sign_up
from tests.observability.conftest import Observed


def finished(observed: Observed) -> list[ReadableSpan]:
    return list(observed.spans.get_finished_spans())


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    named = [s for s in spans if s.name == name]
    assert len(named) == 1, f"{name}: {len(named)} spans among {sorted({s.name for s in spans})}"
    return named[0]


def ancestry(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    """The names from ``span`` up to its trace's root (within the spans we have)."""
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    names = [span.name]
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.trace_id


async def test_one_trace_from_the_request_that_posts_a_job_to_the_activities_it_causes(
    observed: Observed, infra: Infra
) -> None:
    async with observed.http(infra) as http:
        client = await sign_up(http, "client")
        worker = await sign_up(http, "worker", verified=True)
        observed.spans.clear()

        job = await post_job(client)

        # The workflow writes its projection in an activity: the job becomes readable.
        await eventually(lambda: client.get(f"/v1/jobs/{job['id']}"), lambda r: r.is_success)
        spans = await eventually(
            lambda: _async(finished(observed)),
            lambda s: any(x.name == "RunActivity:store.project_job" for x in s),
        )
        request = one(spans, "POST /v1/jobs")
        assert request.parent is None  # the root: nothing called us with a traceparent
        assert (
            request.attributes is not None
            and request.attributes["http.response.status_code"] == 201
        )
        job_trace = [s for s in spans if trace_id(s) == trace_id(request)]
        activity = one(job_trace, "RunActivity:store.project_job")
        # POST /v1/jobs starts the workflow with its first update (update-with-start); the
        # workflow's spans hang off that call (workflow spans are zero-length markers).
        assert ancestry(activity, job_trace) == [
            "RunActivity:store.project_job",
            "StartActivity:store.project_job",
            "StartUpdateWithStartWorkflow:JobPosting",
            "POST /v1/jobs",
        ]
        for marker in ("RunWorkflow:JobPosting", "HandleUpdate:publish"):
            assert ancestry(one(job_trace, marker), job_trace)[1:] == [
                "StartUpdateWithStartWorkflow:JobPosting",
                "POST /v1/jobs",
            ]
        assert activity.attributes is not None
        assert activity.attributes["temporalWorkflowID"] == f"job-{job['id']}"

        # Hiring is an update of that workflow: its request is a trace of its own, and the
        # workflow's handler (still in the job's trace) links to it; the contract it starts
        # and the contract's activities join the job's trace.
        application = await apply(worker, job["id"])
        observed.spans.clear()
        contract = await hire(client, job["id"], application["id"], [50_000])
        spans = await eventually(
            lambda: _async(finished(observed)),
            lambda s: any(x.name == "RunActivity:store.project_contract" for x in s),
        )
    hire_request = one(spans, "POST /v1/jobs/{job_id}/applications/{application_id}/hire")
    update_call = one(spans, "StartWorkflowUpdate:hire")
    assert ancestry(update_call, spans) == [update_call.name, hire_request.name]
    handler = one(spans, "HandleUpdate:hire")
    assert trace_id(handler) == trace_id(request)
    assert update_call.context is not None
    assert [link.context.span_id for link in handler.links] == [update_call.context.span_id]
    contract_activity = one(spans, "RunActivity:store.project_contract")
    assert trace_id(contract_activity) == trace_id(request)
    assert contract_activity.attributes is not None
    assert contract_activity.attributes["temporalWorkflowID"] == f"contract-{contract['id']}"
    # (The chain continues above the spans this part kept: into the job workflow's context.)
    assert ancestry(contract_activity, spans) == [
        "RunActivity:store.project_contract",
        "StartActivity:store.project_contract",
        "StartChildWorkflow:Contract",
    ]


async def test_a_callers_traceparent_and_request_id_are_continued(
    observed: Observed, infra: Infra
) -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with observed.http(infra) as http:
        observed.spans.clear()
        answer = await http.get(
            "/health/live",
            headers={
                "traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01",
                "X-Request-Id": "lb-7f3a.42",
            },
        )
        made_up = await http.get("/health/live", headers={"X-Request-Id": '{"level": "forged"}'})
    assert answer.headers["x-request-id"] == "lb-7f3a.42"
    # An id that could forge a log field is replaced by one of ours.
    assert made_up.headers["x-request-id"] != '{"level": "forged"}'
    assert len(made_up.headers["x-request-id"]) == 32
    span = next(
        s
        for s in finished(observed)
        if s.attributes and s.attributes.get("tempwork.request_id") == "lb-7f3a.42"
    )
    assert format(trace_id(span), "032x") == caller_trace
    assert span.name == "GET /health/live"


async def _async(value: list[ReadableSpan]) -> list[ReadableSpan]:
    return value


def test_tracing_is_off_unless_an_otlp_endpoint_is_set() -> None:
    from core.tracing import temporal_interceptors, tracer_provider
    from tests.observability.test_logs import settings

    assert tracer_provider(settings(otel_exporter_otlp_endpoint=None), "api") is None
    assert temporal_interceptors(None) == []

    on = settings(otel_exporter_otlp_endpoint="http://collector:4318")
    provider = tracer_provider(on, "worker")
    assert provider is not None
    try:
        assert provider.resource.attributes["service.name"] == "tempwork-worker"
        (interceptor,) = temporal_interceptors(provider)
        assert type(interceptor).__name__ == "TracingInterceptor"
    finally:
        provider.shutdown()
