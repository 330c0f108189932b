"""The reliability workshop's scenario: SNS -> ride writer -> DynamoDB, at 1 WCU, then on demand.

Seed: the rides table at 1 RCU / 1 WCU under 8.7 rps for 3 minutes gave about
17% errors; the fix is a function DLQ and PAY_PER_REQUEST. Here the writer is
invoked asynchronously by SNS, so a write that still fails after the SDK's own
retries fails the invocation, Lambda retries it (MaximumRetryAttempts), and
then it lands in the function's DLQ: none may be lost. With PAY_PER_REQUEST
there must be no DLQ arrival at all.

Compression (factor F, default 6): the rate is kept, because a write capacity
unit is a rate (one write per second) and cannot be compressed; the 3 minutes
are divided by F, and so are AWS's fixed async retry delays (the local cloud's
time scale 1/F). Billing mode is switched through the stack's config
(rideBillingMode, rideWriteCapacity ...) with the emulated deploy's overrides.
"""

from __future__ import annotations

import math
import time
from typing import Any

from app.session import LocalSession
from chaos import probes, traffic
from components import outputs as keys
from scenarios import base

SEED_RATE = 8.7  # requests per second
SEED_SECONDS = 180.0
DEFAULT_COMPRESS = 6.0
# Execution environments of the writer started before the clock: about what the 1 WCU
# variant reaches (8.7/s x a 3 s timeout x up to 3 attempts overlapping is ~40 at AWS's
# scale); see base.warm_up for why they are not left to cold-start mid-run on a small host.
WRITER_ENVIRONMENTS = 32
# Beyond the attempts and AWS's retry delays: the async queue, cold starts and the SDK's
# backoff on a small host (a full run's last event was placed 122 s after the load).
SETTLE_MARGIN_SECONDS = 180
VARIANTS: dict[str, dict[str, Any]] = {
    "provisioned": {
        "rideBillingMode": "PROVISIONED",
        "rideReadCapacity": 1,
        "rideWriteCapacity": 1,
        "rideAutoscalingMaxCapacity": 0,
    },
    "on_demand": {"rideBillingMode": "PAY_PER_REQUEST"},
}
# The seed's fixed 1 WCU is the very failure the policy pack's table-capacity rule forbids
# (no write autoscaling): the scenario replays it knowingly, and only that rule is waived.
WAIVED_POLICIES: dict[str, tuple[str, ...]] = {"provisioned": ("table-capacity",)}


def parameters(compress: float) -> dict[str, Any]:
    if not math.isfinite(compress) or compress < 1:
        raise base.ScenarioError(f"--compress must be a number >= 1, got {compress!r}")
    seconds = SEED_SECONDS / compress
    return {
        "compress": compress,
        "time_scale": min(1.0, 1.0 / compress),
        "rate": SEED_RATE,
        "seconds": seconds,
        "phases": [traffic.Phase(seconds, SEED_RATE)],
    }


def run(
    deployment: LocalSession,
    params: dict[str, Any],
    *,
    variants: list[str],
    max_requests: int | None = None,
    say: Any = print,
) -> dict[str, Any]:
    offsets = traffic.schedule(params["phases"], max_events=max_requests)
    results = {}
    for variant in variants:
        stack = deployment.deploy(VARIANTS[variant], waive=WAIVED_POLICIES.get(variant, ()))
        say(
            f"variant {variant}: {len(offsets)} rides over {offsets[-1]:.0f} s at "
            f"{params['rate']}/s"
        )
        results[variant] = _variant(stack, variant, offsets, params, say)
    return {
        "scenario": "reliability",
        "compress": params["compress"],
        "time_scale": deployment.cloud.clock.time_scale,
        "host_limits": deployment.cloud.info()["host_limits"],
        "rate": params["rate"],
        "seconds": params["seconds"],
        "seed": {"rate": SEED_RATE, "seconds": SEED_SECONDS, "capacity": "1 RCU / 1 WCU"},
        "config_overrides": {v: VARIANTS[v] for v in variants},
        "policies_waived": {v: list(WAIVED_POLICIES.get(v, ())) for v in variants},
        "deploy_seconds": deployment.deploy_seconds,
        "variants": results,
    }


def _variant(
    stack: Any, variant: str, offsets: list[float], params: dict[str, Any], say: Any
) -> dict[str, Any]:
    out = stack.get(keys.RIDE_RECORDS)
    pattern = stack.get(f"{keys.ROUTES}.{keys.RIDE_RECORDS}.none.ledger_pattern")
    table = stack.get(keys.LEDGER_TABLE)
    dlqs = {"function_dlq": out["dlq_url"], "subscription_dlq": out["subscription_dlq_url"]}
    for url in dlqs.values():
        base.drain_ids(stack, url)  # an earlier variant's stragglers are not this one's
    dead: dict[str, list[str]] = {name: [] for name in dlqs}
    events = [
        traffic.new_event(scenario="reliability", variant=variant, rider="scenario")
        for _ in offsets
    ]
    base.warm_up(stack, {out["function"]["name"]: WRITER_ENVIRONMENTS})
    began = time.time()
    sent = traffic.drive(
        traffic.sns_driver(stack, out["topic_arn"]), "sns", events, offsets, workers=16
    )
    load_end = time.monotonic()
    accepted = {s["id"] for s in sent if s["ok"]}
    written: set[str] = set()

    def accounted() -> bool:
        for name, url in dlqs.items():
            dead[name].extend(base.drain_ids(stack, url, params.get("record_to")))
        written.update(probes.ledger(stack, table, pattern))
        return accepted <= written | {i for ids in dead.values() for i in ids}

    # Each of the 1 + 2 attempts runs at most one function timeout, after AWS's ~60 s and
    # ~120 s retry delays at the cloud's time scale, plus a margin for the host (the writer's
    # MaximumEventAgeInSeconds is the component's 6 h default, so no event ages out first).
    # A deadline, not a wait: polling stops as soon as every id is accounted for.
    timeout = int(out["function"]["timeout"])
    patience = 3 * timeout + 180 * params["time_scale"] + SETTLE_MARGIN_SECONDS
    settled = base.settle(
        accounted, deadline=load_end + patience, what=f"{variant}: every accepted ride placed"
    )
    end = time.time()
    counts = base.conservation(accepted, written, dead)
    fn = {"FunctionName": out["function"]["name"]}
    table_dims = {"TableName": out["table_name"]}
    result = {
        "billing_mode": out["billing_mode"],
        "requests": len(sent),
        "publish_failures": len(sent) - len(accepted),
        **counts,
        "written": counts["delivered"],
        "dlq_arrivals": sum(counts["dlq_messages"].values()),
        "writer_invocations": int(
            base.metric_sum(stack, "AWS/Lambda", "Invocations", fn, began, end)
        ),
        "writer_errors": int(base.metric_sum(stack, "AWS/Lambda", "Errors", fn, began, end)),
        "write_throttle_events": int(
            base.metric_sum(stack, "AWS/DynamoDB", "WriteThrottleEvents", table_dims, began, end)
        ),
        "settled": settled,
        "seconds": round(end - began, 1),
    }
    say(
        f"  {variant}: {result['written']} written, {result['dlq_arrivals']} in the DLQ, "
        f"{result['lost']} lost, {result['write_throttle_events']} write throttles"
    )
    return result


def passed(doc: dict[str, Any]) -> bool:
    """Nothing lost anywhere; with PAY_PER_REQUEST no DLQ arrival."""
    variants = doc["variants"]
    on_demand = variants.get("on_demand")
    return all(v["lost"] == 0 for v in variants.values()) and (
        on_demand is None or on_demand["dlq_arrivals"] == 0
    )


def markdown(doc: dict[str, Any], plot: Any = None) -> str:
    columns = [
        "variant",
        "billing_mode",
        "requests",
        "written",
        "dlq_arrivals",
        "lost",
        "writer_invocations",
        "writer_errors",
        "write_throttle_events",
        "seconds",
    ]
    rows = [{"variant": name, **v} for name, v in doc["variants"].items()]
    return "\n".join(
        [
            f"# Reliability workshop, compressed {doc['compress']:g}x\n",
            f"{doc['rate']} rides/s for {doc['seconds']:.0f} s "
            f"(seed: {doc['seed']['seconds']:.0f} s); "
            f"local cloud time scale {doc['time_scale']}, host limits "
            f"`{doc.get('host_limits')}`.\n",
            base.markdown_table(rows, columns),
            f"passed: {doc.get('passed')} (nothing lost; no DLQ arrival on demand)\n",
        ]
    )
