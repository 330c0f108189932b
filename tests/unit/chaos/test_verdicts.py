"""The failure-contract verdicts on crafted inputs: each must turn red on the broken case."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from chaos import budgets
from chaos import expectations as ex
from chaos.envelopes import parse_message
from chaos.expectations import Observed
from tests.unit.chaos.chaos_unit_helpers import REGION, make_function, queue

DLQ = "https://sqs.us-east-1.amazonaws.com/123456789012/app-dlq"
OTHER = "https://sqs.us-east-1.amazonaws.com/123456789012/app-other-dlq"
ALARM = "app-dlq-alarm"


def dlq_alarm(queue_name: str = "app-dlq", metric: str = ex.DLQ_ALARM_METRIC) -> dict:
    return {
        "namespace": "AWS/SQS",
        "metric": metric,
        "dimensions": {"QueueName": queue_name},
    }


def notification(alarm: str, state: str = "ALARM", sent_s: float = 20.0) -> dict:
    body = {
        "AlarmName": alarm,
        "NewStateValue": state,
        "OldStateValue": "OK",
        "StateChangeTime": "2026-12-01T12:00:10.000+0000",
    }
    return {
        "Body": json.dumps(body),
        "Attributes": {"SentTimestamp": str(int((START + sent_s) * 1000))},
    }


START = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()  # notifications above change at +10 s


# ---- alarm fires on ONE message ----


def test_an_alarm_that_fired_only_on_the_second_message_fails() -> None:
    # GIVEN two messages reached the DLQ and the alarm fired after the second
    arrivals = {"m1": START + 10, "m2": START + 40}
    # WHEN judged
    verdict = ex.alarm_fires_on_one(ALARM, DLQ, arrivals, fired_at=START + 45)
    # THEN it fails: two messages cannot show a threshold of one
    assert not verdict.passed
    assert "2 messages were in app-dlq" in verdict.problems[0]
    assert verdict.name == f"alarm {ALARM} fires on one message"


def test_an_alarm_that_never_fired_on_one_message_fails() -> None:
    # GIVEN one message in the DLQ and no transition (threshold "> 1")
    verdict = ex.alarm_fires_on_one(ALARM, DLQ, {"m1": START + 10}, fired_at=None)
    # THEN red, naming the queue
    assert not verdict.passed
    assert "never went to ALARM with one message in app-dlq" in verdict.problems[0]


def test_an_alarm_that_fired_on_exactly_one_message_passes() -> None:
    verdict = ex.alarm_fires_on_one(ALARM, DLQ, {"m1": START + 10}, fired_at=START + 30)
    assert verdict.passed, verdict.message()


# ---- alarm watches the route's queue ----


def test_an_alarm_whose_dimension_names_another_queue_fails_naming_both() -> None:
    # GIVEN the alarm's live QueueName is another DLQ than the route's
    verdict = ex.alarm_watches(ALARM, dlq_alarm("app-other-dlq"), DLQ, [DLQ])
    # THEN red, with both names
    assert not verdict.passed
    assert "'app-other-dlq'" in verdict.problems[0] and "'app-dlq'" in verdict.problems[0]
    assert verdict.name == f"alarm {ALARM} watches app-dlq"


def test_an_alarm_on_a_queue_the_route_does_not_name_fails() -> None:
    verdict = ex.alarm_watches(ALARM, dlq_alarm("app-other-dlq"), OTHER, [DLQ])
    assert not verdict.passed
    assert "app-other-dlq is not a queue the route names (app-dlq)" in verdict.problems[0]


def test_an_alarm_on_another_metric_of_the_right_queue_fails() -> None:
    verdict = ex.alarm_watches(ALARM, dlq_alarm(metric="NumberOfMessagesDeleted"), DLQ, [DLQ])
    assert not verdict.passed
    assert "AWS/SQS/NumberOfMessagesDeleted" in verdict.problems[0]


def test_an_alarm_on_the_routes_queue_passes() -> None:
    assert ex.alarm_watches(ALARM, dlq_alarm(), DLQ, [DLQ, OTHER]).passed


# ---- alarm notified ----


def test_an_inbox_without_the_notification_fails() -> None:
    verdict = ex.alarm_notified(ALARM, [], start=START, budget=60)
    assert not verdict.passed
    assert verdict.name == f"alarm {ALARM} notified"


def test_an_inbox_with_another_alarms_notification_fails_and_names_it() -> None:
    verdict = ex.alarm_notified(ALARM, [notification("some-other-alarm")], start=START, budget=60)
    assert not verdict.passed
    assert "some-other-alarm" in verdict.problems[0]


def test_an_ok_notification_is_not_the_alarm_notification() -> None:
    verdict = ex.alarm_notified(ALARM, [notification(ALARM, "OK")], start=START, budget=60)
    assert not verdict.passed


def test_a_notification_from_before_the_experiment_does_not_count() -> None:
    old = notification(ALARM)
    body = json.loads(old["Body"]) | {"StateChangeTime": "2026-11-30T12:00:10.000+0000"}
    old["Body"] = json.dumps(body)
    assert not ex.alarm_notified(ALARM, [old], start=START, budget=60).passed


def test_a_late_notification_fails() -> None:
    verdict = ex.alarm_notified(ALARM, [notification(ALARM, sent_s=90)], start=START, budget=60)
    assert not verdict.passed
    assert "over the budget of 60.0s" in verdict.problems[0]


def test_the_notification_in_time_passes_raw_or_in_an_sns_envelope() -> None:
    raw = notification(ALARM)
    wrapped = dict(raw, Body=json.dumps({"Type": "Notification", "Message": raw["Body"]}))
    for message in (raw, wrapped):
        verdict = ex.alarm_notified(ALARM, [notification("x"), message], start=START, budget=60)
        assert verdict.passed, verdict.message()
        assert verdict.figures["notified_after_s"] == 20.0


# ---- attempts ----


def test_a_dlq_message_with_one_receive_too_many_or_too_few_fails() -> None:
    # GIVEN maxReceiveCount 3 and DLQ messages received 4 and 2 times before the DLQ
    verdict = ex.attempts({"e-many": 4, "e-few": 2}, 3, what="sqs_redrive", setting="maxRC")
    # THEN red for both, naming the id, the count and the declared value
    assert not verdict.passed
    assert "e-few: 2 attempts, too few: maxRC = 3" in verdict.problems
    assert "e-many: 4 attempts, too many: maxRC = 3" in verdict.problems


def test_an_invoke_count_of_retries_plus_two_fails() -> None:
    retries = 2
    verdict = ex.attempts({"e1": retries + 2}, retries + 1, what="destination", setting="MRA+1")
    assert not verdict.passed
    assert verdict.name == "attempts destination"


def test_a_missing_count_and_no_dead_letter_at_all_fail() -> None:
    assert not ex.attempts({"e1": None}, 3, what="destination", setting="s").passed
    assert not ex.attempts({}, 3, what="destination", setting="s").passed


def test_exact_attempts_pass_and_per_event_declared_values_are_used() -> None:
    assert ex.attempts({"e1": 3, "e2": 3}, 3, what="sqs_redrive", setting="s").passed
    per_event = {"poison": 1, "hit": 4}
    assert ex.attempts({"poison": 1, "hit": 4}, per_event, what="fr", setting="s").passed
    assert not ex.attempts({"poison": 4, "hit": 4}, per_event, what="fr", setting="s").passed


def test_a_bisect_range_bounds_the_kinesis_invoke_count() -> None:
    # GIVEN MaximumRetryAttempts 2 (3 invokes) and a batch of 10 (up to 4 halvings)
    upper = 3 + budgets.bisect_invokes(10)
    assert upper == 7
    assert ex.attempts({"e1": 5}, 3, upper=upper, what="k", setting="s").passed
    assert not ex.attempts({"e1": 8}, 3, upper=upper, what="k", setting="s").passed
    assert not ex.attempts({"e1": 2}, 3, upper=upper, what="k", setting="s").passed


def test_the_workflow_retry_that_matches_the_error_declares_the_attempts() -> None:
    retriers = [
        {"ErrorEquals": ["PoisonEvent"], "MaxAttempts": 0},
        {"ErrorEquals": ["States.ALL"], "MaxAttempts": 2},
    ]
    assert budgets.retrier_max_attempts(retriers, "PoisonEvent") == 0
    assert budgets.retrier_max_attempts(retriers, "InjectedFailure") == 2
    assert budgets.retrier_max_attempts([{"ErrorEquals": ["States.ALL"]}], "x") == 3


def test_sqs_keeps_the_receive_count_when_it_moves_a_message_to_the_dlq(mocked: None) -> None:
    # GIVEN a queue with maxReceiveCount 2, and a message received twice without a delete
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = queue("dlq")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    src = queue(
        "src",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
    )
    sqs.send_message(QueueUrl=src, MessageBody=json.dumps({"id": "e1"}))
    for _ in range(2):
        assert sqs.receive_message(QueueUrl=src, VisibilityTimeout=0)["Messages"]
    # WHEN the next receive moves it and a probe receives it from the DLQ
    assert not sqs.receive_message(QueueUrl=src).get("Messages")
    got = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"][0]
    dl = parse_message("sqs_redrive", dlq, got)
    # THEN the count is maxReceiveCount plus the probe's own receive
    assert dl["event_id"] == "e1"
    assert dl["receive_count"] == 2 + 1


# ---- budgets that cannot be talked down ----


def test_a_budget_with_a_missing_redrive_policy_fails_naming_it(stack) -> None:
    url = queue("no-redrive", VisibilityTimeout="30")
    with pytest.raises(budgets.MissingSettingError, match="no RedrivePolicy maxReceiveCount"):
        budgets.redrive(stack, url)


def test_a_budget_without_an_event_invoke_config_fails_naming_it(stack) -> None:
    fn = make_function("no-invoke-config")
    with pytest.raises(budgets.MissingSettingError, match="no event invoke config"):
        budgets.async_settings(stack, fn)


def test_budgets_read_the_live_settings(stack) -> None:
    dlq = queue("d")
    arn = f"arn:aws:sqs:{REGION}:123456789012:d"
    url = queue(
        "s",
        VisibilityTimeout="12",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3}),
    )
    assert dlq and budgets.redrive(stack, url) == (12.0, 3)
    fn = make_function("with-config", Timeout=4)
    boto3.client("lambda", region_name=REGION).put_function_event_invoke_config(
        FunctionName=fn, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=60
    )
    assert budgets.async_settings(stack, fn) == (1, 60, 4.0)


def _queue_and_function(name: str, retries: int) -> dict[str, str]:
    """A queue (visibility 12 s, 3 receives, a DLQ) and a function (4 s, `retries`, age 60 s)."""
    arn = f"arn:aws:sqs:{REGION}:123456789012:{name}-dlq"
    assert queue(f"{name}-dlq")
    url = queue(
        f"{name}-src",
        VisibilityTimeout="12",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3}),
    )
    fn = make_function(name, Timeout=4)
    boto3.client("lambda", region_name=REGION).put_function_event_invoke_config(
        FunctionName=fn, MaximumRetryAttempts=retries, MaximumEventAgeInSeconds=60
    )
    return {"q": url, "f": fn}


# A workflow step's Retry: 2 attempts, 1 s then x 2.0; a 3 s step.
WORKFLOW = {
    "retry_max_attempts": 2,
    "retry_interval": 1.0,
    "retry_backoff_rate": 2.0,
    "step": {"timeout": 3},
}


def test_floors_are_the_settings_waits_without_the_attempts(stack) -> None:
    # GIVEN a queue (visibility 12 s, 3 receives) and a function (1 retry, age 60 s, 4 s)
    from chaos.experiments.model import Budget

    paths = _queue_and_function("floors", retries=1)

    def floor(kind: str, path: str, scale: float = 1.0) -> tuple[float, float]:
        resolve = {**paths, "wf": WORKFLOW}.__getitem__
        return budgets.settle_and_floor_seconds(stack, Budget(kind, path), resolve, scale)  # type: ignore[arg-type]

    # THEN a poison message waits out every visibility timeout, however fast it fails
    assert floor("sqs", "q") == (36.0, 36.0)
    # AND an async event its retry delay (compressed with the cloud), not its attempts
    first_delay = ex.ASYNC_RETRY_DELAYS[0]
    assert floor("async", "f") == (first_delay + 8.0, first_delay)
    assert floor("async", "f", 0.1) == (first_delay * 0.1 + 8.0, first_delay * 0.1)
    # AND a throttled one the event age; a workflow its Retry intervals
    assert floor("event_age", "f") == (64.0, 60.0)
    assert floor("workflow", "wf") == (1.0 + 2.0 + 3 * 3.0, 3.0)
    assert floor("none", "") == (0.0, 0.0)


def test_an_event_processed_after_failed_attempts_has_the_floor_of_those_attempts(stack) -> None:
    # GIVEN the same settings: visibility 12 s x 3 receives; 2 retries; Retry 2 x (1 s, 2.0)
    from chaos.experiments.model import Budget

    paths = _queue_and_function("partial", retries=2)
    resolve = {**paths, "wf": WORKFLOW}.__getitem__

    def floor(kind: str, path: str, failed: int | None) -> float:
        return budgets.settle_and_floor_seconds(
            stack,
            Budget(kind, path),  # type: ignore[arg-type]
            resolve,
            1.0,
            failed=failed,
        )[1]

    d1, d2 = ex.ASYNC_RETRY_DELAYS
    # THEN each failed receive keeps its visibility timeout; every receive failed = all three
    assert [floor("sqs", "q", k) for k in (0, 1, 2, None)] == [0.0, 12.0, 24.0, 36.0]
    assert floor("sqs", "q", 9) == 36.0  # never more than the receives the queue allows
    # AND each failed async attempt its retry delay, up to the retries configured
    assert [floor("async", "f", k) for k in (0, 1, 2, 3, None)] == [
        0.0,
        d1,
        d1 + d2,
        d1 + d2,
        d1 + d2,
    ]
    # AND a workflow step its Retry intervals; a counted attempt says nothing of throttles
    assert [floor("workflow", "wf", k) for k in (1, 2, None)] == [1.0, 3.0, 3.0]
    assert floor("event_age", "f", 2) == 0.0
    assert floor("event_age", "f", None) == 60.0


def test_the_floor_counts_the_failed_attempts_of_processed_events_only() -> None:
    from chaos.expectations import Observed
    from chaos.runner import Context

    # GIVEN ledger counts: a processed on attempt 3, b on its first, c never processed
    ctx = Context.__new__(Context)
    ctx.attempts_seen = {"a": 3, "b": 1, "c": 5}
    observed = Observed(processed={"queue_worker": {"a": 1, "b": 1}})
    # THEN the slowest processed event failed 2 attempts; c (dead-lettered or lost) is not one
    assert ctx.failed_before_processed(observed) == 2
    # AND nothing counted, nothing failed
    assert ctx.failed_before_processed(Observed()) == 0


def test_the_suite_bound_is_the_longest_group_or_the_floors_shared_over_those_at_once() -> None:
    from chaos.report import suite_timing

    def row(name: str, group: str, began: float, ended: float, floor: float) -> dict:
        return dict(name=name, group=group, began_at=began, ended_at=ended, floor_s=floor)

    # GIVEN two groups side by side: a (30 s + 20 s of waits, one after the other), b (10 s)
    rows = [row("a1", "a", 0, 35, 30), row("a2", "a", 35, 60, 20), row("b1", "b", 0, 12, 10)]
    timing = suite_timing(rows)
    # THEN the bound is group a's 50 s (more than 60 s of floors shared by 2), wall 60 s
    assert timing == {
        "wall_s": 60.0,
        "lower_bound_s": 50.0,
        "ratio": 1.2,
        "goal_ratio": 1.15,
        "experiments_at_once": 2,
    }
    # AND run one at a time, the same floors add up
    serial = [row("a1", "a", 0, 35, 30), row("a2", "a", 35, 60, 20), row("b1", "b", 60, 72, 10)]
    assert suite_timing(serial)["lower_bound_s"] == 60.0  # type: ignore[index]
    # AND rows without times (older reports) give no timing
    assert suite_timing([{"name": "x"}]) is None


def test_a_settle_past_the_budget_fails_with_both_numbers() -> None:
    verdict = ex.settled_within(95.0, computed=60.0, slack=30.0)
    assert not verdict.passed
    assert "60.0s from the stack's settings + 30.0s slack" in verdict.problems[0]
    assert verdict.figures["budget_s"] == 90.0


def test_never_settling_fails_and_settling_in_time_passes() -> None:
    assert not ex.settled_within(None, computed=60.0, slack=30.0).passed
    assert ex.settled_within(89.9, computed=60.0, slack=30.0).passed


# ---- duplicates ----


def test_a_duplicate_ledger_count_fails() -> None:
    observed = Observed(processed={"qw": {"e1": 1, "e2": 2}})
    verdict = ex.duplicates(observed, ["e1", "e2"], 0)
    assert not verdict.passed
    assert "e2 x2 in qw" in verdict.problems[0]
    assert verdict.name == "duplicates"


def test_single_side_effects_pass_the_duplicates_verdict() -> None:
    assert ex.duplicates(Observed(processed={"qw": {"e1": 1}}), ["e1"], 0).passed


# ---- the runner's wiring: declared value read live, count taken from the envelope ----


def _context(stack, tmp_path):
    from chaos.experiments.model import Expect, Experiment
    from chaos.runner import Context

    exp = Experiment(
        name="u", pattern="queue_worker", title="t", fault="f", method=(), expect=Expect()
    )
    return Context(stack, exp, faults=None, run_dir=tmp_path, cloud_info={}, progress=print)  # type: ignore[arg-type]


def _dead_letter(queue_url: str) -> dict:
    return {"event_id": "e1", "envelope": "sqs_redrive", "queue_url": queue_url, "message_id": "m1"}


@pytest.mark.parametrize(("first_receive", "passed"), [(5, False), (3, False), (4, True)])
def test_sqs_attempts_come_from_the_first_peek_against_the_live_max_receive_count(
    stack, tmp_path, first_receive: int, passed: bool
) -> None:
    from chaos.experiments.model import Attempts
    from chaos.runner import _attempts_verdict

    # GIVEN a source queue whose live RedrivePolicy says maxReceiveCount 3
    arn = f"arn:aws:sqs:{REGION}:123456789012:dlq"
    dlq = queue("dlq")
    src = queue("src", RedrivePolicy=json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3}))
    stack.outputs["queue_worker"] = {"queue_url": src}
    ctx = _context(stack, tmp_path)
    # AND the probe's first receive of the DLQ message saw this ApproximateReceiveCount
    ctx.first_receive_count[(dlq, "m1")] = first_receive
    # WHEN the attempts verdict is taken
    verdict = _attempts_verdict(ctx, Attempts("sqs", "queue_worker.queue_url"), [_dead_letter(dlq)])
    # THEN only 3 receives before the move (4 with the peek) pass
    assert verdict.passed is passed, verdict.message()
    assert verdict.figures.get("declared") == "3"


def test_sqs_attempts_without_a_redrive_policy_fail_naming_the_setting(stack, tmp_path) -> None:
    from chaos.experiments.model import Attempts
    from chaos.runner import _attempts_verdict

    src, dlq = queue("src"), queue("dlq")
    stack.outputs["queue_worker"] = {"queue_url": src}
    ctx = _context(stack, tmp_path)
    verdict = _attempts_verdict(ctx, Attempts("sqs", "queue_worker.queue_url"), [_dead_letter(dlq)])
    assert not verdict.passed
    assert "missing setting" in verdict.problems[0] and "RedrivePolicy" in verdict.problems[0]


def test_a_live_max_receive_count_other_than_the_declared_one_fails(stack, tmp_path) -> None:
    from chaos.experiments.model import Attempts
    from chaos.runner import _attempts_verdict

    # GIVEN the stack declares maxReceiveCount 2, but the live queue says 3
    arn = f"arn:aws:sqs:{REGION}:123456789012:dlq"
    dlq = queue("dlq")
    src = queue("src", RedrivePolicy=json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3}))
    stack.outputs["queue_worker"] = {"queue_url": src, "max_receive_count": 2}
    ctx = _context(stack, tmp_path)
    # AND the message was received 3 times before the move (what the live setting does)
    ctx.first_receive_count[(dlq, "m1")] = 4
    spec = Attempts("sqs", "queue_worker.queue_url", declared="queue_worker.max_receive_count")
    # WHEN judged
    verdict = _attempts_verdict(ctx, spec, [_dead_letter(dlq)])
    # THEN red twice: the live setting differs from the declared one, and 3 receives are too many
    assert not verdict.passed
    assert "live maxReceiveCount of src is 3, the stack declares 2" in verdict.problems[0]
    assert "e1: 3 attempts, too many" in verdict.problems[1]


def test_a_step_value_from_a_live_setting_or_an_output(stack, tmp_path) -> None:
    from chaos.experiments.model import FromOutput, FromSetting
    from chaos.runner import step_value

    # GIVEN a queue whose live maxReceiveCount is 4, declared 4 in the outputs
    arn = f"arn:aws:sqs:{REGION}:123456789012:dlq"
    queue("dlq")
    src = queue("src", RedrivePolicy=json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 4}))
    stack.outputs["queue_worker"] = {"queue_url": src, "max_receive_count": 4}
    ctx = _context(stack, tmp_path)
    # THEN both resolve when the step runs, with their offsets
    assert step_value(ctx, FromSetting("max_receive_count", "queue_worker.queue_url", -1)) == 3
    assert step_value(ctx, FromOutput("queue_worker.max_receive_count", 1)) == 5
    assert step_value(ctx, "fixed") == "fixed"


def _ledger_table() -> None:
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="ledger",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "pattern", "KeyType": "HASH"},
            {"AttributeName": "event_id", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pattern", "AttributeType": "S"},
            {"AttributeName": "event_id", "AttributeType": "S"},
        ],
    )


def _attempted(event_id: str, count: int) -> None:
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName="ledger",
        Item={
            "pattern": {"S": "attempts:qw"},
            "event_id": {"S": event_id},
            "count": {"N": str(count)},
        },
    )


def test_await_attempts_fails_when_the_redelivery_never_happens(stack, tmp_path) -> None:
    from chaos.errors import PollTimeoutError
    from chaos.experiments.model import AwaitAttempts
    from chaos.runner import _await_attempts

    # GIVEN a worker whose attempts ledger shows e1 attempted once, e2 twice
    _ledger_table()
    stack.outputs.update({"ledger_table": "ledger", "queue_worker": {"function": {"name": "w"}}})
    make_function("w", env={"LEDGER_PATTERN": "qw"})
    _attempted("e1", 1)
    _attempted("e2", 2)
    ctx = _context(stack, tmp_path)
    ctx.sent = [{"id": i, "ok": True} for i in ("e1", "e2")]  # type: ignore[typeddict-item]
    ctx.labels = {"e1": "hit", "e2": "hit"}
    # WHEN the method waits for attempt 2 of every hit event
    with pytest.raises(PollTimeoutError):
        _await_attempts(ctx, AwaitAttempts("queue_worker.function.name", 2), timeout=1.0)
    # THEN the wait is a failing verdict, not a silent pass
    assert [v.name for v in ctx.verdicts if not v.passed] == ["attempts reached 2"]
    # AND once e1 has been redelivered it passes
    _attempted("e1", 2)
    ctx.verdicts.clear()
    _await_attempts(ctx, AwaitAttempts("queue_worker.function.name", 2), timeout=1.0)
    assert ctx.verdicts and ctx.verdicts[0].passed


def test_alarm_verdicts_are_named_by_output_path_and_problems_by_live_name() -> None:
    # GIVEN the stable labels the runner passes (output paths, the same for every deploy)
    watches = ex.alarm_watches(
        ALARM,
        dlq_alarm("app-other-dlq"),
        DLQ,
        [DLQ],
        label="queue_worker.alarms.dlq",
        queue_label="queue_worker.dlq_url",
    )
    one = ex.alarm_fires_on_one(ALARM, DLQ, {}, None, label="queue_worker.alarms.dlq")
    told = ex.alarm_notified(ALARM, [], start=START, budget=1, label="queue_worker.alarms.dlq")
    # THEN the names are stable and each problem names the live alarm
    assert watches.name == "alarm queue_worker.alarms.dlq watches queue_worker.dlq_url"
    assert one.name == "alarm queue_worker.alarms.dlq fires on one message"
    assert told.name == "alarm queue_worker.alarms.dlq notified"
    assert all(ALARM in v.problems[-1] for v in (watches, told))


def test_every_dlq_alarm_experiment_leaves_exactly_one_failing_event() -> None:
    from chaos.experiments import CATALOG
    from chaos.experiments.model import Send

    # GIVEN the catalogue's experiments that show a DLQ alarm fires on one message
    shown = [e for e in CATALOG if any(a.dlq for a in e.expect.alarms)]
    assert {e.name for e in shown} >= {"sqs-poison-to-dlq", "async-retries-exhausted"}
    for exp in shown:
        sends = [s for s in exp.method if isinstance(s, Send) and not s.per_subscriber]
        # THEN each sends one failing event (hit or poison): two would let "> 1" pass
        if sends:
            assert sum(s.hit + s.poison for s in sends) == 1, exp.name


# ---- usage plan throttles calls over it ----


def calls(accepted: int, throttled: int, other: int = 0, window: float = 1.0) -> list[dict]:
    n = accepted + throttled + other
    out = []
    for i in range(n):
        ok = i < accepted
        detail = (
            "201"
            if ok
            else (
                "ChaosError: POST u -> 429: Too Many Requests"
                if i < accepted + throttled
                else "ChaosError: POST u -> 502: Bad Gateway"
            )
        )
        at = START + window * i / max(1, n - 1)
        out.append(
            {"id": f"e{i}", "at": at, "entry": "api", "poison": False, "ok": ok, "detail": detail}
        )
    return out


def test_a_plan_that_refuses_the_excess_with_429_passes() -> None:
    v = ex.api_throttled(calls(20, 40), rate=10, burst=10, slack_s=1.0, label="api")
    assert v.passed, v.message()
    assert v.figures["accepted_at_most"] == 30.0 and v.figures["throttled_429"] == 40


def test_a_plan_raised_out_of_reach_refuses_nothing_and_fails() -> None:
    v = ex.api_throttled(calls(60, 0), rate=10, burst=10, slack_s=1.0, label="api")
    assert not v.passed
    assert any("none refused with 429" in p for p in v.problems)
    assert any("more than the plan allows" in p for p in v.problems)


def test_more_accepted_than_the_bucket_holds_fails_even_with_some_429s() -> None:
    v = ex.api_throttled(calls(45, 15), rate=10, burst=10, slack_s=1.0, label="api")
    assert v.problems == [
        "45 calls accepted, more than the plan allows in 1.00s (burst 10 + 10/s x (1.00s +"
        " 1s slack) = 30.0)"
    ]


def test_failures_that_are_not_throttling_fail_the_throttle_verdict() -> None:
    v = ex.api_throttled(calls(20, 30, other=2), rate=10, burst=10, slack_s=1.0, label="api")
    assert v.problems == [
        "2 calls failed other than by throttling: ChaosError: POST u -> 502: Bad Gateway"
    ]


def test_the_live_plan_is_read_and_a_plan_without_throttle_names_it(stack) -> None:
    gw = boto3.client("apigateway", region_name=REGION)
    api = gw.create_rest_api(name="slow")["id"]
    root = gw.get_resources(restApiId=api)["items"][0]["id"]
    gw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    gw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    gw.create_deployment(restApiId=api, stageName="v1")
    with pytest.raises(budgets.MissingSettingError, match=f"no usage plan on API {api}"):
        budgets.usage_plan_throttle(stack, api)
    gw.create_usage_plan(
        name="p",
        apiStages=[{"apiId": api, "stage": "v1"}],
        throttle={"rateLimit": 10.0, "burstLimit": 10},
    )
    assert budgets.usage_plan_throttle(stack, api) == (10.0, 10.0)
