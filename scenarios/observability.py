"""The observability demo's scenario, replayed on the local cloud, compressed by a factor F.

Seed: 60 s at 2/s, 120 s ramping 3 -> 5/s, 900 s ramping 5 -> 20/s (about 11,850
requests) into the notifier API; the slow API fails 20% of calls at once and
otherwise takes 1-10 s, behind a usage plan of 10 rps, burst 10; delivery retries
5 attempts waiting 3 s + 0-5 s, 12 s HTTP timeout, 29 s function timeout.
Variant "direct": EventBridge -> delivery (async). Variant "flow": EventBridge ->
SQS -> mapping with MaximumConcurrency 10.

Compression (one factor F, default 10): arrival rates and the usage-plan rate are
kept, since the 429s come from the call rate against the plan; every duration
and delay is divided by F (phases, slow API delays, delivery waits and HTTP
timeout, function timeouts, and the local cloud's time scale 1/F for AWS's fixed
async retry delays). Concurrency is rate x time, so it falls by F too: the
mapping's MaximumConcurrency and the usage-plan burst (a count) are divided by F
(not below AWS's minimum of 2, and 1), and function timeouts stay >= 3 s (see
`parameters`). Requests total about 11,850 / F. The ratios
that set the story (offered call rate / plan rate; MaximumConcurrency / service
time against the plan rate) are those of the seed.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from chaos import probes, traffic
from components import outputs as keys
from scenarios import base
from scenarios.slow_api_tap import SlowApiTap

SEED_PHASES = (traffic.Phase(60, 2), traffic.Phase(120, 3, 5), traffic.Phase(900, 5, 20))
SEED = {"min_delay": 1.0, "max_delay": 10.0, "failure_rate": 0.2, "rate_limit": 10.0,
        "burst_limit": 10, "attempts": 5, "wait_base": 3.0, "wait_jitter": 5.0,
        "http_timeout": 12.0, "function_timeout": 29, "maximum_concurrency": 10}
VARIANTS = {"direct": keys.EVENT_PIPELINE, "flow": keys.EVENT_PIPELINE_FLOW}
DEFAULT_COMPRESS = 10.0
SENDERS = 16

logger = logging.getLogger(__name__)


def parameters(compress: float) -> dict[str, Any]:
    """The compressed profile and the stack config overrides for factor `compress`."""
    if not math.isfinite(compress) or compress < 1:
        raise base.ScenarioError(f"--compress must be a number >= 1, got {compress!r}")
    f = compress
    # Not below 3 s: delivery keeps 1 s of its time back for its own bookkeeping and starts no
    # attempt with less than that left (functions/delivery SAFETY_SECONDS), so a 1 s function
    # would never call the API at all.
    timeout = max(3, math.ceil(SEED["function_timeout"] / f))
    overrides = {
        "slowApiFailureRate": SEED["failure_rate"],
        "slowApiMinDelay": round(SEED["min_delay"] / f, 4),
        "slowApiMaxDelay": round(SEED["max_delay"] / f, 4),
        "slowApiRateLimit": SEED["rate_limit"],
        "slowApiBurstLimit": max(1, round(SEED["burst_limit"] / f)),
        "slowApiTimeout": timeout,
        "slowApiSeed": "",
        "deliveryTimeout": timeout,
        "deliveryAttempts": SEED["attempts"],
        "deliveryWaitBase": round(SEED["wait_base"] / f, 4),
        "deliveryWaitJitter": round(SEED["wait_jitter"] / f, 4),
        # EventPipeline refuses an HTTP timeout under 0.1 s; it stays above the slowest answer.
        "deliveryHttpTimeout": max(0.1, round(SEED["http_timeout"] / f, 4)),
        "pipelineMaximumConcurrency": max(2, round(SEED["maximum_concurrency"] / f)),
    }
    phases = [traffic.Phase(p.duration / f, p.arrival_rate, p.ramp_to) for p in SEED_PHASES]
    return {"compress": f, "time_scale": min(1.0, 1.0 / f), "overrides": overrides,
            "phases": phases, "load_seconds": sum(p.duration for p in phases)}


def run(deployment: base.Deployment, params: dict[str, Any], *, variants: list[str],
        max_requests: int | None = None, drain_seconds: float | None = None,
        say: Any = print) -> dict[str, Any]:
    """Both variants, one after the other, on a deployment; returns the report document."""
    stack = deployment.reconfigure(params["overrides"])
    tap = SlowApiTap(deployment.cloud, str(stack.get(f"{keys.SLOW_API}.api_id")))
    offsets = traffic.schedule(params["phases"], max_events=max_requests)
    results = {}
    for variant in variants:
        say(f"variant {variant}: {len(offsets)} requests over {offsets[-1]:.0f} s")
        results[variant] = _variant(stack, tap, variant, offsets, params, drain_seconds, say)
    return {
        "scenario": "observability",
        "compress": params["compress"],
        "time_scale": deployment.cloud.clock.time_scale,
        "config_overrides": params["overrides"],
        "phases": [vars(p) for p in params["phases"]],
        "seed": {"phases": [vars(p) for p in SEED_PHASES], **SEED},
        "deploy_seconds": deployment.deploy_seconds,
        "variants": results,
    }


def _variant(stack: Any, tap: SlowApiTap, variant: str, offsets: list[float],
             params: dict[str, Any], drain_seconds: float | None, say: Any) -> dict[str, Any]:
    out = stack.get(VARIANTS[variant])
    pattern = stack.get(f"{keys.ROUTES}.{VARIANTS[variant]}.none.ledger_pattern")
    table = stack.get(keys.LEDGER_TABLE)
    dlqs = {"target_dlq": out["target_dlq_url"], "delivery_dlq": out["delivery_dlq_url"]}
    for url in dlqs.values():
        base.drain_ids(stack, url)  # whatever an earlier run left is not this run's
    dead: dict[str, list[str]] = {name: [] for name in dlqs}
    _warm_up(stack, out)
    events = [traffic.new_event(scenario="observability", variant=variant) for _ in offsets]
    began, load_began = time.time(), time.monotonic()
    # Senders wait for the notifier's answer, as artillery's virtual users do; their number
    # bounds the notifier's concurrency (AWS would scale it; a 2-core host cannot start dozens
    # of workers at once within Lambda's 10 s init limit).
    sent = traffic.drive(traffic.api_driver(out["api_url"], None), "api", events, offsets,
                         workers=SENDERS)
    load_end = time.monotonic()
    accepted = {s["id"] for s in sent if s["ok"]}
    rejected = [s for s in sent if not s["ok"]]
    delivered: set[str] = set()

    def accounted() -> bool:
        for name, url in dlqs.items():
            dead[name].extend(base.drain_ids(stack, url, params.get("record_to")))
        delivered.update(probes.ledger(stack, table, pattern))
        return accepted <= delivered | {i for ids in dead.values() for i in ids}

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
    settled = base.settle(accounted, deadline=load_end + patience)
    buffered: set[str] = set()
    if variant == "flow" and not settled:
        buffered = _stop_and_read_buffer(stack, out, timeout)
        accounted()
    end = time.time()
    counts = base.conservation(accepted, delivered, dead, buffered)
    api = SlowApiTap.summary(tap.calls_of(accepted))
    fn = {"FunctionName": out["delivery"]["name"]}
    invocations = base.metric_sum(stack, "AWS/Lambda", "Invocations", fn, began, end)
    concurrency = base.metric_points(stack, "AWS/Lambda", "ConcurrentExecutions", fn, began, end,
                                     "Maximum")
    say(f"  {variant}: {counts['delivered']} delivered, {counts['dead_lettered']} dead-lettered, "
        f"{counts['buffered']} buffered, {counts['lost']} lost; {api['throttled_429']} 429s")
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
        "load_seconds": round(load_end - load_began, 1),
        "seconds": round(end - began, 1),
        "concurrency": [(round(t - began, 2), int(v)) for t, v in concurrency],
        "calls_429": [round(t - began, 2) for t, status, _ in tap.calls_of(accepted)
                      if status == 429],
        "sent_at": [round(s["at"] - began, 2) for s in sent],
    }


def _warm_up(stack: Any, out: dict[str, Any], deadline_seconds: float = 120.0) -> None:
    """Execution environments before the clock starts: one per sender for the notifier (the
    senders' concurrency), one each for delivery and the slow API. Each call is refused by
    its handler (no id), so nothing happens. A worker that misses Lambda's 10 s init limit on
    a busy host is tried again, within a deadline."""
    from concurrent.futures import ThreadPoolExecutor

    lam = stack.client("lambda")
    deadline = time.monotonic() + deadline_seconds

    def warm(function: str) -> bool:
        while time.monotonic() < deadline:
            try:
                lam.invoke(FunctionName=function, Payload=b"{}")
                return True
            except Exception as exc:  # a failed cold start: 5xx from the Invoke API
                logger.warning("warm-up of %s failed, trying again: %s", function, exc)
        return False

    functions = [out["notifier"]["name"]] * SENDERS + [
        out["delivery"]["name"], stack.get(f"{keys.SLOW_API}.function.name")]
    with ThreadPoolExecutor(len(functions)) as pool:
        warmed = sum(pool.map(warm, functions))
    if warmed < len(functions):
        logger.warning("only %d of %d execution environments warmed up", warmed, len(functions))


def _stop_and_read_buffer(stack: Any, out: dict[str, Any], timeout: int) -> set[str]:
    """Pause the mapping, let in-flight deliveries finish, and read what is still queued."""
    lam, sqs = stack.client("lambda"), stack.client("sqs")
    buffer_url = out["buffer_queue_url"]
    arn = sqs.get_queue_attributes(QueueUrl=buffer_url,
                                   AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mappings = [m for m in lam.list_event_source_mappings(
        FunctionName=out["delivery"]["name"])["EventSourceMappings"]
        if m["EventSourceArn"] == arn]
    for mapping in mappings:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)

    def in_flight_done() -> bool:
        attrs = sqs.get_queue_attributes(
            QueueUrl=buffer_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"]) == 0

    attrs = sqs.get_queue_attributes(QueueUrl=buffer_url, AttributeNames=["VisibilityTimeout"])
    visibility = int(attrs["Attributes"]["VisibilityTimeout"])
    base.settle(in_flight_done, deadline=time.monotonic() + visibility + timeout + 5)
    ids = set(base.drain_ids(stack, buffer_url))
    for mapping in mappings:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    return ids


def markdown(doc: dict[str, Any], plot: Path | None) -> str:
    columns = ["variant", "requests", "deliveries", "throttled_429", "retries", "dlq_arrivals",
               "buffered", "lost", "peak_concurrency", "delivery_invocations", "seconds"]
    rows = [{"variant": name, **v} for name, v in doc["variants"].items()]
    text = [f"# Observability demo, compressed {doc['compress']:g}x\n",
            f"Local cloud time scale {doc['time_scale']}; config overrides: "
            f"`{doc['config_overrides']}`.\n",
            "Rates and the usage plan are the seed's; durations, delays, MaximumConcurrency and "
            "burst are divided by the factor (see scenarios/observability.py).\n",
            base.markdown_table(rows, columns)]
    for name, v in doc["variants"].items():
        text.append(f"- {name}: slow API answers {v['slow_api']['by_status']}, DLQ messages "
                    f"{v['dlq_messages']}, settled={v['settled']}\n")
    if plot is not None:
        text.append(f"\n![concurrency]({plot.name})\n")
    return "\n".join(text)


def passed(doc: dict[str, Any]) -> bool:
    """The seed's promise: with flow control nothing is lost (the direct variant is reported)."""
    flow = doc["variants"].get("flow")
    return flow is None or flow["lost"] == 0
