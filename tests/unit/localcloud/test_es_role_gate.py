"""A mapping poller's role gate: a denied call raises at once, and is reported (the mapping's
LastProcessingResult, one log line) only once the denial has held, so the last polls of a
mapping whose role policy a destroy deletes right after it are no PROBLEM."""

from __future__ import annotations

import pytest

from localcloud.lambda_.event_sources import base
from localcloud.lambda_.event_sources.base import AccessDenied, MappingSpec, RoleGate

QUEUE = "arn:aws:sqs:us-east-1:123456789012:orders"
SPEC = MappingSpec.from_configuration(
    {
        "UUID": "m-1",
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
        "EventSourceArn": QUEUE,
    }
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(base.time, "monotonic", fake)
    return fake


def test_a_denial_is_reported_once_it_has_held(clock):
    # GIVEN a gate on a role that allows nothing
    reported: list[str] = []
    gate = RoleGate(SPEC, lambda fn, action, resource: False, reported.append)
    # WHEN the first poll is denied THEN it raises, naming the call, and reports nothing yet
    with pytest.raises(AccessDenied, match="does not allow sqs:ReceiveMessage on " + QUEUE):
        gate.require("sqs:ReceiveMessage")
    assert reported == []
    # WHEN the next poll, a second later, is denied too THEN the PROBLEM is reported, once
    for _ in range(3):
        clock.now += base.DENIAL_HOLDS
        with pytest.raises(AccessDenied):
            gate.require("sqs:ReceiveMessage")
    assert reported == [f"PROBLEM: the execution role does not allow sqs:ReceiveMessage on {QUEUE}"]
    # AND a success after it is reported as OK
    gate.result("OK")
    assert reported[-1] == "OK"


def test_a_denial_that_ends_before_it_held_or_on_a_stopping_mapping_is_not_reported(clock):
    # GIVEN a role whose grant comes and goes, and a gate whose mapping may be stopping
    allowed = {"yes": False}
    stopping = {"yes": False}
    reported: list[str] = []
    gate = RoleGate(
        SPEC, lambda fn, action, resource: allowed["yes"], reported.append, lambda: stopping["yes"]
    )
    # WHEN a denial is followed by an allowed poll of the same call, then a denial again
    with pytest.raises(AccessDenied):
        gate.require("sqs:ReceiveMessage")
    allowed["yes"] = True
    clock.now += base.DENIAL_HOLDS
    gate.require("sqs:ReceiveMessage")
    allowed["yes"] = False
    with pytest.raises(AccessDenied):
        gate.require("sqs:ReceiveMessage")
    # THEN nothing is reported: the new denial has not held yet
    assert reported == []
    # AND a denial that holds while the mapping is stopping is not reported either
    stopping["yes"] = True
    clock.now += base.DENIAL_HOLDS
    with pytest.raises(AccessDenied):
        gate.require("sqs:ReceiveMessage")
    assert reported == []
