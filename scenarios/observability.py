"""The observability demo's scenario, replayed on the local cloud, compressed by a factor F.

Seed: 60 s at 2/s, 120 s ramping 3 -> 5/s, 900 s ramping 5 -> 20/s (about 11,850
requests) into the notifier API; the slow API fails 20% of calls at once and
otherwise takes 1-10 s, behind a usage plan of 10 rps, burst 10; delivery retries
5 attempts waiting 3 s + 0-5 s, 12 s HTTP timeout, 29 s function timeout.
Variant "direct": EventBridge -> delivery (async). Variant "flow": EventBridge ->
SQS -> mapping with MaximumConcurrency 10.

Scaling: two factors. Time factor F (default 5) divides every duration and delay
(phases, slow API delays, delivery waits and HTTP timeout, function timeouts, and
the local cloud's time scale 1/F for AWS's fixed async retry delays). Rate divisor
R (default 4) divides every rate: the arrival rates and the usage plan's rate
limit together, so the offered call rate against the plan, which makes the 429s,
is the seed's. Counts are rate x time, so they fall by F x R: requests (about
11,850 / (F x R)), the usage-plan burst and the mapping's MaximumConcurrency (not
below 1 and AWS's minimum of 2). Function timeouts stay >= 3 s (see `parameters`).

Why R: the local cloud is one Python process on the host (two cores in CI). At
the seed's 20 requests/s each event costs it a dozen requests (notifier, PutEvents,
async invoke, delivery's calls through API Gateway, ledger, DLQ), and the direct
variant runs dozens of worker processes at once; measured at F = 10, R = 1 the
host's load average reached 35-43 and 181 of the first ~1,000 notifier calls got a
502 from cold workers and timeouts that AWS would not have. The defaults keep the
seed's ratios (offered/plan rate; the flow variant's MaximumConcurrency / service
time of 2 / 1.1 s = 1.8 deliveries/s under the plan's 2.5 rps, seed 10 / 5.5 s
under 10 rps) with 5 requests/s at the peak.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from app.session import LocalSession
from chaos import probes, traffic
from components import outputs as keys
from scenarios import base
from scenarios.slow_api_tap import SlowApiTap

SEED_PHASES = (traffic.Phase(60, 2), traffic.Phase(120, 3, 5), traffic.Phase(900, 5, 20))
SEED = {
    "min_delay": 1.0,
    "max_delay": 10.0,
    "failure_rate": 0.2,
    "rate_limit": 10.0,
    "burst_limit": 10,
    "attempts": 5,
    "wait_base": 3.0,
    "wait_jitter": 5.0,
    "http_timeout": 12.0,
    "function_timeout": 29,
    "maximum_concurrency": 10,
}
VARIANTS = {"direct": keys.EVENT_PIPELINE, "flow": keys.EVENT_PIPELINE_FLOW}
DEFAULT_COMPRESS = 5.0
DEFAULT_RATE_SCALE = 4.0
SENDERS = 8
# A delivery at the seed's peak: up to 5 attempts, each a 429 or a 1-10 s call, 3-8 s apart.
DELIVERY_MEAN_SECONDS = 20.0
MAX_WARM = 48  # environments per function warmed at most (each is a process here)

logger = logging.getLogger(__name__)


def parameters(compress: float, rate_scale: float = 1.0) -> dict[str, Any]:
    """The scaled profile and the stack config overrides for time factor `compress` and rate
    divisor `rate_scale` (see the module docstring)."""
    for flag, value in (("--compress", compress), ("--rate-scale", rate_scale)):
        if not math.isfinite(value) or value < 1:
            raise base.ScenarioError(f"{flag} must be a number >= 1, got {value!r}")
    f, r = compress, rate_scale
    # Not below 3 s: delivery keeps 1 s of its time back for its own bookkeeping and starts no
    # attempt with less than that left (functions/delivery SAFETY_SECONDS), so a 1 s function
    # would never call the API at all.
    timeout = max(3, math.ceil(SEED["function_timeout"] / f))
    overrides = {
        "slowApiFailureRate": SEED["failure_rate"],
        "slowApiMinDelay": round(SEED["min_delay"] / f, 4),
        "slowApiMaxDelay": round(SEED["max_delay"] / f, 4),
        "slowApiRateLimit": round(SEED["rate_limit"] / r, 4),
        # Counts (requests at once, executions at once) are rate x time: divided by both.
        "slowApiBurstLimit": max(1, round(SEED["burst_limit"] / (f * r))),
        "slowApiTimeout": timeout,
        # The notifier's too (every function's): at the local default of 3 s, a notifier
        # slowed by the direct variant's dozens of workers on a small host timed out after
        # its PutEvents, so the sender saw a 502 for an event already on its way.
        "functionTimeout": timeout,
        "slowApiSeed": "",
        "deliveryTimeout": timeout,
        "deliveryAttempts": SEED["attempts"],
        "deliveryWaitBase": round(SEED["wait_base"] / f, 4),
        "deliveryWaitJitter": round(SEED["wait_jitter"] / f, 4),
        # EventPipeline refuses an HTTP timeout under 0.1 s; it stays above the slowest answer.
        "deliveryHttpTimeout": max(0.1, round(SEED["http_timeout"] / f, 4)),
        "pipelineMaximumConcurrency": max(2, round(SEED["maximum_concurrency"] / (f * r))),
    }
    phases = [
        traffic.Phase(
            p.duration / f, p.arrival_rate / r, None if p.ramp_to is None else p.ramp_to / r
        )
        for p in SEED_PHASES
    ]
    return {
        "compress": f,
        "rate_scale": r,
        "time_scale": min(1.0, 1.0 / f),
        "overrides": overrides,
        "phases": phases,
        "load_seconds": sum(p.duration for p in phases),
    }


def run(
    deployment: LocalSession,
    params: dict[str, Any],
    *,
    variants: list[str],
    max_requests: int | None = None,
    drain_seconds: float | None = None,
    say: Any = print,
) -> dict[str, Any]:
    """Both variants, one after the other, on a deployment; returns the report document."""
    stack = deployment.deploy(params["overrides"])
    tap = SlowApiTap(deployment.cloud, str(stack.get(f"{keys.SLOW_API}.api_id")))
    offsets = traffic.schedule(params["phases"], max_events=max_requests)
    results = {}
    for variant in variants:
        say(f"variant {variant}: {len(offsets)} requests over {offsets[-1]:.0f} s")
        results[variant] = _variant(stack, tap, variant, offsets, params, drain_seconds, say)
    return {
        "scenario": "observability",
        "compress": params["compress"],
        "rate_scale": params["rate_scale"],
        "time_scale": deployment.cloud.clock.time_scale,
        "host_limits": deployment.cloud.info()["host_limits"],
        "config_overrides": params["overrides"],
        "phases": [vars(p) for p in params["phases"]],
        "seed": {"phases": [vars(p) for p in SEED_PHASES], **SEED},
        "deploy_seconds": deployment.deploy_seconds,
        "variants": results,
    }


def _variant(
    stack: Any,
    tap: SlowApiTap,
    variant: str,
    offsets: list[float],
    params: dict[str, Any],
    drain_seconds: float | None,
    say: Any,
) -> dict[str, Any]:
    out = stack.get(VARIANTS[variant])
    pattern = stack.get(f"{keys.ROUTES}.{VARIANTS[variant]}.none.ledger_pattern")
    table = stack.get(keys.LEDGER_TABLE)
    dlqs = {"target_dlq": out["target_dlq_url"], "delivery_dlq": out["delivery_dlq_url"]}
    for url in dlqs.values():
        base.drain_ids(stack, url)  # whatever an earlier run left is not this run's
    dead: dict[str, list[str]] = {name: [] for name in dlqs}
    _warm_up(stack, out, params["compress"] * params["rate_scale"])
    events = [traffic.new_event(scenario="observability", variant=variant) for _ in offsets]
    began, load_began = time.time(), time.monotonic()
    # Senders wait for the notifier's answer, as artillery's virtual users do; their number
    # bounds the notifier's concurrency (AWS would scale it; a 2-core host cannot start dozens
    # of workers at once within Lambda's 10 s init limit).
    sent = traffic.drive(
        traffic.api_driver(out["api_url"], out["api_key_value"]),
        "api",
        events,
        offsets,
        workers=SENDERS,
    )
    load_end = time.monotonic()
    accepted = {s["id"] for s in sent if s["ok"]}
    rejected = [s for s in sent if not s["ok"]]
    delivered: set[str] = set()
    buffered: set[str] = set()

    def accounted() -> bool:
        for name, url in dlqs.items():
            dead[name].extend(base.drain_ids(stack, url, params.get("record_to")))
        delivered.update(probes.ledger(stack, table, pattern))
        return accepted <= delivered | buffered | {i for ids in dead.values() for i in ids}

    timeout = int(out["delivery"]["timeout"])
    if variant == "direct":
        # Three attempts of at most one timeout each, AWS's ~60 s and ~120 s retry delays at
        # the cloud's time scale, and EventBridge's own retries of the invoke.
        # An event may also wait in Lambda's async queue up to MaximumEventAgeInSeconds (60 s
        # locally). A deadline, not a wait: polling stops once every id is accounted for.
        scale = params["time_scale"]
        patience = 3 * timeout + 180 * scale + 60 * scale + 60 + 30
    else:
        patience = params["load_seconds"] if drain_seconds is None else drain_seconds
    settled = base.settle(
        accounted, deadline=load_end + patience, what=f"{variant}: every accepted id placed"
    )
    if variant == "flow" and not settled:
        ids, visibility = _stop_and_read_buffer(stack, out, timeout)
        buffered.update(ids)
        # An invocation running when the mapping paused writes its ledger entries after the
        # buffer was read, or returns its failed messages, which the mapping (enabled again)
        # then delivers or dead-letters: every id is placed within a visibility timeout and
        # a few invocations. Polled, not waited: it stops when every id is placed.
        base.settle(
            accounted,
            deadline=time.monotonic() + visibility + 3 * timeout,
            what=f"{variant}: every id placed after the buffer was read",
        )
    end = time.time()
    counts = base.conservation(accepted, delivered, dead, buffered)
    api = SlowApiTap.summary(tap.calls_of(accepted))
    # Where each lost event was last seen: its calls to the slow API, by answer status.
    lost_seen = {i: [status for _, status, _ in tap.calls_of({i})] for i in counts["lost_ids"]}
    fn = {"FunctionName": out["delivery"]["name"]}
    invocations = base.metric_sum(stack, "AWS/Lambda", "Invocations", fn, began, end)
    concurrency = probes.metric_points(
        stack, "AWS/Lambda", "ConcurrentExecutions", fn, began, end, base.METRIC_PERIOD, "Maximum"
    )
    say(
        f"  {variant}: {counts['delivered']} delivered, {counts['dead_lettered']} dead-lettered, "
        f"{counts['buffered']} buffered, {counts['lost']} lost; {api['throttled_429']} 429s"
    )
    return {
        "requests": len(sent),
        "rejected_by_notifier_api": len(rejected),
        **counts,
        "deliveries": counts["delivered"],
        "throttled_429": api["throttled_429"],
        "retries": api["retries"],
        "dlq_arrivals": sum(counts["dlq_messages"].values()),
        "slow_api": api,
        "delivery_invocations": int(invocations),
        "peak_concurrency": int(max((v for _, v in concurrency), default=0)),
        "settled": settled,
        "lost_slow_api_calls": lost_seen,
        "load_seconds": round(load_end - load_began, 1),
        "seconds": round(end - began, 1),
        "concurrency": [(round(t - began, 2), int(v)) for t, v in concurrency],
        "calls_429": [
            round(t - began, 2) for t, status, _ in tap.calls_of(accepted) if status == 429
        ],
        "sent_at": [round(s["at"] - began, 2) for s in sent],
    }


def _warm_up(stack: Any, out: dict[str, Any], count_divisor: float) -> None:
    """Execution environments before the clock starts (see base.warm_up): one per sender for
    the notifier (the senders' concurrency); for delivery about the direct variant's peak
    concurrency, the peak rate times a delivery's mean seed duration, scaled like every
    count; for the slow API its rate limit times its mean delay, scaled, with room."""
    seed_rate = max(p.ramp_to or p.arrival_rate for p in SEED_PHASES)
    delivery = math.ceil(seed_rate * DELIVERY_MEAN_SECONDS / count_divisor)
    slow_api = math.ceil(
        2 * SEED["rate_limit"] * (SEED["min_delay"] + SEED["max_delay"]) / 2 / count_divisor
    )
    base.warm_up(
        stack,
        {
            out["notifier"]["name"]: SENDERS,
            out["delivery"]["name"]: min(MAX_WARM, max(1, delivery)),
            stack.get(f"{keys.SLOW_API}.function.name"): min(MAX_WARM, max(1, slow_api)),
        },
    )


def _stop_and_read_buffer(stack: Any, out: dict[str, Any], timeout: int) -> tuple[set[str], int]:
    """Pause the mapping, let in-flight deliveries finish, read what is still queued, and
    enable the mapping again; the ids read and the buffer's visibility timeout."""
    lam, sqs = stack.client("lambda"), stack.client("sqs")
    buffer_url = out["buffer_queue_url"]
    arn = sqs.get_queue_attributes(QueueUrl=buffer_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    mappings = [
        m
        for m in lam.list_event_source_mappings(FunctionName=out["delivery"]["name"])[
            "EventSourceMappings"
        ]
        if m["EventSourceArn"] == arn
    ]
    for mapping in mappings:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)

    def in_flight_done() -> bool:
        attrs = sqs.get_queue_attributes(
            QueueUrl=buffer_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )
        return int(attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"]) == 0

    attrs = sqs.get_queue_attributes(QueueUrl=buffer_url, AttributeNames=["VisibilityTimeout"])
    visibility = int(attrs["Attributes"]["VisibilityTimeout"])
    base.settle(
        in_flight_done,
        deadline=time.monotonic() + visibility + timeout + 5,
        what="no delivery in flight from the paused buffer",
    )
    ids = set(base.drain_ids(stack, buffer_url))
    for mapping in mappings:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    return ids, visibility


def markdown(doc: dict[str, Any], plot: Path | None) -> str:
    columns = [
        "variant",
        "requests",
        "deliveries",
        "throttled_429",
        "retries",
        "dlq_arrivals",
        "buffered",
        "lost",
        "peak_concurrency",
        "delivery_invocations",
        "seconds",
    ]
    rows = [{"variant": name, **v} for name, v in doc["variants"].items()]
    text = [
        f"# Observability demo, time compressed {doc['compress']:g}x, rates divided by "
        f"{doc.get('rate_scale', 1):g}\n",
        f"Local cloud time scale {doc['time_scale']}; config overrides: "
        f"`{doc['config_overrides']}`; local cloud host limits "
        f"`{doc.get('host_limits')}`.\n",
        "Durations and delays are divided by the time factor; arrival rates and the usage "
        "plan's rate by the rate divisor; counts (requests, burst, MaximumConcurrency) by "
        "both (see scenarios/observability.py).\n",
        base.markdown_table(rows, columns),
    ]
    for name, v in doc["variants"].items():
        text.append(
            f"- {name}: slow API answers {v['slow_api']['by_status']}, DLQ messages "
            f"{v['dlq_messages']}, settled={v['settled']}\n"
        )
    if plot is not None:
        text.append(f"\n![concurrency]({plot.name})\n")
    return "\n".join(text)


def passed(doc: dict[str, Any]) -> bool:
    """The seed's promise: with flow control nothing is lost (the direct variant is reported)."""
    flow = doc["variants"].get("flow")
    return flow is None or flow["lost"] == 0
