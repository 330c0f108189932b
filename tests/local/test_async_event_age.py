"""An async event that stays throttled (reserved concurrency 0) past MaximumEventAgeInSeconds
ends in the OnFailure destination (EventAgeExceeded) and the function DLQ.

MaximumEventAgeInSeconds is the stack's own setting (minimum 60 s on AWS) and is
not compressed, so the scenario starts with the session (tests/local/conftest.py) and
its wait overlaps the tests that run before this one.
"""

from __future__ import annotations

import json
import time

MAX_EVENT_AGE = 60  # AWS's minimum; the scenario itself is in conftest.py


def test_tail_event_age_exceeded_under_reserved_concurrency_zero(event_age_scenario, aws, drain):
    scenario = event_age_scenario
    assert scenario["status"] == 202  # throttling happens later, inside Lambda's queue
    wait = MAX_EVENT_AGE - (time.time() - scenario["sent_at"]) + 10
    sqs = aws("sqs")
    [message] = drain(sqs, scenario["queues"]["destination"][0], expect=1, timeout=max(wait, 30))
    arrived = time.time() - scenario["sent_at"]
    assert arrived >= MAX_EVENT_AGE  # the event age is not compressed
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["requestId"] == scenario["request_id"]
    assert record["requestContext"]["approximateInvokeCount"] >= 1
    assert record["requestPayload"] == {"id": "aged"}
    assert "responsePayload" not in record  # the function never ran
    [dead] = drain(sqs, scenario["queues"]["dlq"][0], expect=1, timeout=30)
    assert json.loads(dead["Body"]) == {"id": "aged"}
    assert dead["MessageAttributes"]["ErrorCode"]["StringValue"] == "429"
    assert dead["MessageAttributes"]["RequestID"]["StringValue"] == scenario["request_id"]
