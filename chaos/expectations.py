"""Expectations: judge what the probes saw. Each returns a Verdict; none touches AWS.

`poll_until` is the one way to wait for a condition: it retries a probe until a predicate
holds or a deadline passes (tenacity), never a fixed sleep.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from chaos.envelopes import loads_json
from chaos.errors import ExpectationFailedError, NotYetError, PollTimeoutError
from chaos.traffic import RUN_FIELD
from chaos.types import AlarmTransition, DeadLetter, SentEvent

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Async retry schedule of Lambda (AWS docs: about 1 minute, then about 2 minutes).
ASYNC_RETRY_DELAYS = (60.0, 120.0)
MAX_LISTED = 10  # ids listed per problem line before "... and N more"


@dataclass
class Verdict:
    name: str
    passed: bool
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def message(self) -> str:
        head = f"{self.name}: {'PASS' if self.passed else 'FAIL'}"
        figs = ", ".join(
            f"{k}={v}" for k, v in self.figures.items() if not isinstance(v, dict | list)
        )
        lines = [head + (f" ({figs})" if figs else "")]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    def assert_ok(self) -> Verdict:
        if not self.passed:
            raise ExpectationFailedError(self.message())
        return self


def _ids(ids: Iterable[str]) -> str:
    items = sorted(ids)
    more = f" ... and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more


def place(envelope: str, where: str | None) -> str:
    """A place as one string: "processed:<ledger pattern>" or "<envelope>:<queue url>"."""
    return f"{envelope}:{where}"


@dataclass
class Observed:
    """Everything the probes saw at the end of an experiment."""

    processed: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # ledger pattern -> id -> count
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def places(self) -> dict[str, Counter[str]]:
        """event id -> place -> how many times it was seen there."""
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for pattern, counts in self.processed.items():
            for event_id, count in counts.items():
                out[event_id][place("processed", pattern)] += count
        for dl in self.dead_letters:
            if dl.get("event_id"):
                out[str(dl["event_id"])][place(dl["envelope"], dl["queue_url"])] += 1
        return out


Accepted = list[frozenset[str]]  # the place sets an event may end in (exactly one of them)


def conservation(
    sent: list[SentEvent],
    accepted: Mapping[str, Accepted],
    observed: Observed,
    *,
    max_duplicates: int | None = None,
    name: str = "conservation",
    run_id: str | None = None,
) -> Verdict:
    """Each id sent ends in exactly one accepted set of places; nothing lost, nothing extra.

    With `run_id`, a dead letter of an event another run sent (its `chaos_run` field names
    that run: a throttled event still retried when that run was killed) is a leftover,
    counted and listed, not a failure of this run."""
    places = observed.places()
    rejected_place = frozenset({place("rejected", None)})
    # A synchronous entry point that refuses an event (API 4xx) has it "rejected": accounted
    # for when its route says so, a failed send otherwise.
    rejected = [
        s["id"] for s in sent if not s["ok"] and rejected_place in accepted.get(s["id"], [])
    ]
    # A send that reported an error but whose event arrived anyway (an API answering 5xx after
    # it published) was sent: judged like the others, and not an "unexpected" message.
    arrived_anyway = [
        s["id"] for s in sent if not s["ok"] and s["id"] not in rejected and places.get(s["id"])
    ]
    ids = [s["id"] for s in sent if s["ok"]] + arrived_anyway
    failed_sends = [
        s["id"]
        for s in sent
        if not s["ok"] and s["id"] not in rejected and s["id"] not in arrived_anyway
    ]
    sent_set = set(ids)
    lost, misplaced, two_places = [], [], []
    duplicates = 0
    problems: list[str] = []
    for event_id in ids:
        seen = places.get(event_id, Counter())
        where = frozenset(seen)
        duplicates += sum(n - 1 for n in seen.values())
        options = accepted.get(event_id, [])
        if not where:
            lost.append(event_id)
        elif where in options:
            continue
        elif len(where) > 1:
            two_places.append(event_id)
            problems.append(
                f"{event_id} seen in {len(where)} places: {sorted(where)};"
                f" expected one of {[sorted(o) for o in options]}"
            )
        else:
            misplaced.append(event_id)
            problems.append(
                f"{event_id} seen in {sorted(where)}; expected one of"
                f" {[sorted(o) for o in options]}"
            )
    foreign = [dl for dl in observed.dead_letters if dl.get("event_id") not in sent_set]
    leftovers = [dl for dl in foreign if run_id is not None and _sent_by_another(dl, run_id)]
    unexpected = [dl for dl in foreign if dl not in leftovers]
    extra_processed = {i for counts in observed.processed.values() for i in counts} - sent_set
    if lost:
        problems.insert(0, f"{len(lost)} lost (seen nowhere): {_ids(lost)}")
    for dl in unexpected[:MAX_LISTED]:
        problems.append(
            f"unexpected message in {dl['queue_url']} ({dl['envelope']}): id"
            f" {dl.get('event_id')!r} was not sent by this run (message {dl['message_id']})"
        )
    if max_duplicates is not None and duplicates > max_duplicates:
        problems.append(f"{duplicates} duplicates (allowed {max_duplicates})")
    if failed_sends:
        why = sorted({s["detail"][:160] for s in sent if s["id"] in failed_sends})[:3]
        problems.append(
            f"{len(failed_sends)} sends failed (not counted as sent): {_ids(failed_sends)};"
            f" errors: {'; '.join(why)}"
        )
    processed_ids = {i for i in ids if any(p.startswith("processed:") for p in places.get(i, ()))}
    dead_ids = {i for i in ids if any(not p.startswith("processed:") for p in places.get(i, ()))}
    figures = {
        "sent": len(ids),
        "processed": len(processed_ids),
        "dead_lettered": len(dead_ids),
        "lost": len(lost),
        "duplicates": duplicates,
        "misplaced": len(misplaced),
        "in_two_places": len(two_places),
        "unexpected": len(unexpected),
        "leftovers": len(leftovers),
        "leftover_ids": sorted({str(dl.get("event_id")) for dl in leftovers}),
        "failed_sends": len(failed_sends),
        "rejected": len(rejected),
        "arrived_despite_send_error": len(arrived_anyway),
        "extra_processed": len(extra_processed),
        "lost_ids": sorted(lost),
    }
    passed = not (lost or misplaced or two_places or unexpected or failed_sends) and (
        max_duplicates is None or duplicates <= max_duplicates
    )
    return Verdict(name, passed, problems, figures)


def _sent_by_another(dl: DeadLetter, run_id: str) -> bool:
    payload = dl.get("payload")
    other = payload.get(RUN_FIELD) if isinstance(payload, dict) else None
    return isinstance(other, str) and other != run_id


def settled(sent: list[SentEvent], observed: Observed) -> bool:
    """Every successfully sent id has been seen somewhere (the condition to stop waiting on)."""
    places = observed.places()
    return all(places.get(s["id"]) for s in sent if s["ok"])


def envelope_fields(
    dead_letters: list[DeadLetter],
    expected: Mapping[str, Any],
    *,
    envelope: str | None = None,
    queue_url: str | None = None,
    ids: Iterable[str] | None = None,
    name: str = "envelope",
) -> Verdict:
    """Every matching dead letter has each field equal to the expected value (or satisfying it,
    when the expected value is a callable); and each id in `ids` has one."""
    chosen = [
        dl
        for dl in dead_letters
        if (envelope is None or dl["envelope"] == envelope)
        and (queue_url is None or dl["queue_url"] == queue_url)
    ]
    problems = []
    for dl in chosen:
        for key, want in expected.items():
            got = dl.get(key)  # type: ignore[misc]
            ok = want(got) if callable(want) else got == want
            if not ok:
                shown = (
                    getattr(want, "__doc__", None) or "predicate" if callable(want) else repr(want)
                )
                problems.append(
                    f"{dl.get('event_id')} in {dl['queue_url']}: {key}={got!r}, expected {shown}"
                )
    missing: list[str] = []
    if ids is not None:
        have = {dl.get("event_id") for dl in chosen}
        missing = [i for i in ids if i not in have]
        if missing:
            problems.insert(
                0, f"{len(missing)} ids have no {envelope or 'dead letter'}: {_ids(missing)}"
            )
    return Verdict(name, not problems, problems, {"checked": len(chosen), "missing": len(missing)})


# ---- alarm budgets, from the stack's own settings ----


def sqs_delivery_seconds(visibility_timeout: float, max_receive_count: int) -> float:
    """A message that always fails reaches the DLQ after maxReceiveCount receives, one visibility
    timeout apart."""
    return visibility_timeout * max_receive_count


def async_delivery_seconds(
    retry_attempts: int, function_timeout: float, time_scale: float = 1.0
) -> float:
    """Async invoke: attempts + Lambda's fixed retry delays (compressed by the local cloud)."""
    delays = sum(ASYNC_RETRY_DELAYS[: max(0, min(retry_attempts, 2))]) * time_scale
    return delays + (retry_attempts + 1) * function_timeout


def alarm_budget(
    delivery_seconds: float, period: int, evaluation_periods: int, slack: float
) -> float:
    """Failure reaches its queue, then the metric must breach for the evaluation window, plus
    slack for metric sampling (SQS publishes per minute on AWS) and evaluation cadence."""
    return delivery_seconds + period * evaluation_periods + slack


def alarm_within(
    transitions: list[AlarmTransition],
    alarm: str,
    *,
    start: float,
    budget: float,
    to_state: str = "ALARM",
    name: str | None = None,
) -> Verdict:
    hit = [
        t for t in transitions if t["alarm"] == alarm and t["new"] == to_state and t["at"] >= start
    ]
    label = name or f"alarm {alarm} -> {to_state}"
    figures: dict[str, Any] = {"expected_within_s": round(budget, 1), "observed_after_s": None}
    if not hit:
        return Verdict(
            label, False, [f"{alarm} never went to {to_state} (budget {budget:.1f}s)"], figures
        )
    after = hit[0]["at"] - start
    figures["observed_after_s"] = round(after, 1)
    if after > budget:
        return Verdict(
            label,
            False,
            [
                f"{alarm} went to {to_state} after {after:.1f}s, over the"
                f" budget of {budget:.1f}s (fired late)"
            ],
            figures,
        )
    return Verdict(label, True, [], figures)


def alarm_quiet(
    transitions: list[AlarmTransition], alarm: str, *, start: float, name: str | None = None
) -> Verdict:
    """The alarm did not go to ALARM since `start` (a healthy path must not page anyone)."""
    hit = [
        t for t in transitions if t["alarm"] == alarm and t["new"] == "ALARM" and t["at"] >= start
    ]
    problems = [f"{alarm} went to ALARM {hit[0]['at'] - start:.1f}s in"] if hit else []
    return Verdict(name or f"alarm {alarm} stays quiet", not hit, problems)


def poll_until(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.25,
    max_interval: float = 3.0,
    check: Callable[[], None] | None = None,
) -> T:
    """Call `probe` until `done(value)`; PollTimeoutError with the last value after `timeout`.

    `check` runs on every attempt and may raise (a guard alarm stops the wait at once).
    """
    last: list[Any] = [None]

    def attempt() -> T:
        if check:
            check()
        value = probe()
        last[0] = value
        if not done(value):
            raise NotYetError(what)
        return value

    retrying = Retrying(
        retry=retry_if_exception_type(NotYetError),
        stop=stop_after_delay(timeout),
        wait=wait_exponential(multiplier=interval, max=max_interval),
        reraise=True,
    )
    started = time.monotonic()
    try:
        return retrying(attempt)
    except NotYetError:
        raise PollTimeoutError(what, time.monotonic() - started, _short(last[0])) from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "..."


# ---- the failure contract: alarms, attempts, budgets, duplicates ----

# The SQS metric a DLQ-depth alarm must watch: visible messages (a message the peek hides for a
# moment is still counted by AWS as visible again within the alarm's period).
DLQ_ALARM_NAMESPACE = "AWS/SQS"
DLQ_ALARM_METRIC = "ApproximateNumberOfMessagesVisible"


def queue_name(queue_url: str) -> str:
    """An SQS queue URL's last path segment is its name (the alarm's QueueName dimension)."""
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


def first_transition(
    transitions: list[AlarmTransition], alarm: str, *, start: float, to_state: str = "ALARM"
) -> float | None:
    hit = [
        t["at"]
        for t in transitions
        if t["alarm"] == alarm and t["new"] == to_state and t["at"] >= start
    ]
    return min(hit) if hit else None


def alarm_fires_on_one(
    alarm: str,
    queue_url: str,
    arrivals: Mapping[str, float],
    fired_at: float | None,
    *,
    label: str | None = None,
) -> Verdict:
    """The alarm went to ALARM while exactly one message had ever been in its DLQ.

    `arrivals`: message id -> when a probe first saw it in `queue_url` during the experiment.
    Two messages prove nothing about a threshold of one (`> 1` fires on the second), so the
    experiment must leave exactly one; the verdict fails on any other number.
    """
    name = f"alarm {label or alarm} fires on one message"
    figures: dict[str, Any] = {"messages_in_dlq": len(arrivals), "fired": fired_at is not None}
    problems = []
    if len(arrivals) != 1:
        problems.append(
            f"{len(arrivals)} messages were in {queue_name(queue_url)} during the experiment;"
            " firing on ONE can only be shown with exactly one"
        )
    if fired_at is None:
        problems.append(f"{alarm} never went to ALARM with one message in {queue_name(queue_url)}")
    return Verdict(name, not problems, problems, figures)


def alarm_watches(
    alarm: str,
    conf: Mapping[str, Any],
    queue_url: str,
    route_queues: Iterable[str],
    *,
    label: str | None = None,
    queue_label: str | None = None,
) -> Verdict:
    """The alarm's live metric is the depth of the queue the route names (DescribeAlarms).
    `label` / `queue_label`: stable names for the verdict (output paths), else the live ones."""
    want = queue_name(queue_url)
    name = f"alarm {label or alarm} watches {queue_label or want}"
    problems = []
    routes = sorted(route_queues)
    if queue_url not in routes:
        problems.append(
            f"{want} is not a queue the route names"
            f" ({', '.join(map(queue_name, routes)) or 'none'})"
        )
    dims = dict(conf.get("dimensions") or {})
    got = dims.get("QueueName")
    if got != want:
        problems.append(f"{alarm} watches QueueName={got!r}, the route's queue is {want!r}")
    if conf.get("namespace") != DLQ_ALARM_NAMESPACE or conf.get("metric") != DLQ_ALARM_METRIC:
        problems.append(
            f"{alarm} watches {conf.get('namespace')}/{conf.get('metric')}, a DLQ alarm needs"
            f" {DLQ_ALARM_NAMESPACE}/{DLQ_ALARM_METRIC}"
        )
    return Verdict(name, not problems, problems, {"queue": want, "dimension": got})


def _epoch(stamp: Any) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def alarm_notified(
    alarm: str,
    inbox: list[dict[str, Any]],
    *,
    start: float,
    budget: float,
    to_state: str = "ALARM",
    label: str | None = None,
) -> Verdict:
    """The alarm topic's inbox got the notification: Message JSON with AlarmName = the alarm
    and NewStateValue = to_state, changed since `start`, arrived within the budget.

    `inbox`: SQS messages of the inbox (raw delivery: the body is CloudWatch's JSON; an SNS
    envelope is unwrapped too)."""
    name = f"alarm {label or alarm} notified"
    mine, others = [], set()
    for m in inbox:
        body = _alarm_message(m.get("Body"))
        if not isinstance(body, dict) or "AlarmName" not in body:
            continue
        if body["AlarmName"] != alarm:
            others.add(str(body["AlarmName"]))
            continue
        changed = _epoch(body.get("StateChangeTime"))
        if body.get("NewStateValue") == to_state and (changed is None or changed >= start - 1):
            sent = (m.get("Attributes") or {}).get("SentTimestamp")
            mine.append(int(sent) / 1000 if sent else changed)
    figures: dict[str, Any] = {"expected_within_s": round(budget, 1), "notified_after_s": None}
    if not mine:
        seen = f"; notifications there are for {', '.join(sorted(others))}" if others else ""
        return Verdict(
            name,
            False,
            [
                f"no {to_state} notification for {alarm} in the alarm inbox"
                f" ({len(inbox)} messages{seen})"
            ],
            figures,
        )
    times = [t for t in mine if t is not None]
    after = min(times) - start if times else None
    figures["notified_after_s"] = None if after is None else round(after, 1)
    if after is not None and after > budget:
        return Verdict(
            name,
            False,
            [
                f"{alarm}'s notification arrived after {after:.1f}s,"
                f" over the budget of {budget:.1f}s"
            ],
            figures,
        )
    return Verdict(name, True, [], figures)


def _alarm_message(body: Any) -> Any:
    body = loads_json(body)
    if isinstance(body, dict) and body.get("Type") == "Notification" and "Message" in body:
        return loads_json(body["Message"])
    return body


def attempts(
    counts: Mapping[str, int | None],
    declared: int | Mapping[str, int],
    *,
    what: str,
    setting: str,
    upper: int | None = None,
    name: str | None = None,
) -> Verdict:
    """Each dead-lettered event got exactly the attempts the stack declares (per event when
    `declared` is a mapping, e.g. the Retry that matches its error), or, with `upper`, between
    `declared` and `upper` (the service adds invokes of its own, e.g. bisecting a batch).

    counts: event id -> attempts observed (None: the envelope carried no count)."""
    problems = []
    shown: set[str] = set()
    for event_id, got in sorted(counts.items()):
        low = declared.get(event_id) if isinstance(declared, Mapping) else declared
        if low is None:
            problems.append(f"{event_id}: no declared attempt count ({setting})")
            continue
        top = low if upper is None else upper
        expected = f"{low}" if top == low else f"{low}..{top}"
        shown.add(expected)
        if got is None:
            problems.append(f"{event_id}: no attempt count in {what} ({setting}: {expected})")
        elif got < low:
            problems.append(f"{event_id}: {got} attempts, too few: {setting} = {expected}")
        elif got > top:
            problems.append(f"{event_id}: {got} attempts, too many: {setting} = {expected}")
    if not counts:
        problems.append(f"no dead-lettered event in {what} to count the attempts of")
    figures = {
        "declared": ", ".join(sorted(shown)),
        "observed": ", ".join(sorted({str(c) for c in counts.values()})),
        "checked": len(counts),
        "setting": setting,
    }
    return Verdict(name or f"attempts {what}", not problems, problems, figures)


def settled_within(after: float | None, computed: float, slack: float) -> Verdict:
    """Late is a verdict: the method settled within the budget = computed from the stack's
    settings + the slack stated for a slow host."""
    budget = computed + slack
    figures = {
        "budget_computed_s": round(computed, 1),
        "budget_slack_s": round(slack, 1),
        "budget_s": round(budget, 1),
        "settled_after_s": after,
    }
    if after is None:
        return Verdict(
            "settled within budget", False, [f"never settled (budget {budget:.1f}s)"], figures
        )
    if after > budget:
        return Verdict(
            "settled within budget",
            False,
            [
                f"settled after {after:.1f}s, over the budget of {budget:.1f}s"
                f" ({computed:.1f}s from the stack's settings + {slack:.1f}s slack)"
            ],
            figures,
        )
    return Verdict("settled within budget", True, [], figures)


def duplicates(observed: Observed, ids: Iterable[str], max_duplicates: int) -> Verdict:
    """Side effects of an idempotent handler: an id's ledger count above 1 is a duplicate."""
    wanted = set(ids)
    over = {
        f"{event_id} x{count} in {pattern}": count - 1
        for pattern, counts in observed.processed.items()
        for event_id, count in counts.items()
        if event_id in wanted and count > 1
    }
    total = sum(over.values())
    problems = []
    if total > max_duplicates:
        problems.append(f"{total} duplicate side effects (allowed {max_duplicates}): {_ids(over)}")
    return Verdict(
        "duplicates", not problems, problems, {"duplicates": total, "allowed": max_duplicates}
    )


# A throttled API refuses with 429 (API Gateway: "Too Many Requests").
THROTTLED_STATUS = "-> 429"


def api_throttled(
    sent: list[SentEvent], rate: float, burst: float, slack_s: float, *, label: str
) -> Verdict:
    """Traffic over an API's usage plan: some calls refused with 429, and no more accepted
    than the token bucket allows over the send window (burst + rate x (window + slack)).
    Any other failure (5xx, timeout) is not the plan's doing and fails too."""
    name = f"usage plan throttles {label}"
    calls = [s for s in sent if s["entry"] == "api"]
    accepted = [s for s in calls if s["ok"]]
    throttled = [s for s in calls if not s["ok"] and THROTTLED_STATUS in s["detail"]]
    other = [s for s in calls if not s["ok"] and THROTTLED_STATUS not in s["detail"]]
    times = [s["at"] for s in calls]
    window = (max(times) - min(times)) if times else 0.0
    allowed = burst + rate * (window + slack_s)
    figures = {
        "sent": len(calls),
        "accepted": len(accepted),
        "throttled_429": len(throttled),
        "other_failures": len(other),
        "window_s": round(window, 2),
        "rate_limit": rate,
        "burst_limit": burst,
        "slack_s": slack_s,
        "accepted_at_most": round(allowed, 1),
    }
    problems = []
    if not calls:
        problems.append("no API call was sent")
    elif not throttled:
        problems.append(
            f"{len(calls)} calls in {window:.2f}s, none refused with 429: the plan"
            f" ({rate:g}/s, burst {burst:g}) does not protect the API"
        )
    if len(accepted) > allowed:
        problems.append(
            f"{len(accepted)} calls accepted, more than the plan allows in {window:.2f}s"
            f" (burst {burst:g} + {rate:g}/s x ({window:.2f}s + {slack_s:g}s slack) ="
            f" {allowed:.1f})"
        )
    if other:
        problems.append(
            f"{len(other)} calls failed other than by throttling: "
            + "; ".join(sorted({s["detail"][:120] for s in other})[:3])
        )
    return Verdict(name, not problems, problems, figures)
