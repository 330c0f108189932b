"""The DLQ redriver: moves messages back, reports counts, survives a crash without duplicating."""

from __future__ import annotations

import json

import pytest

from functions.common import clients
from functions.common.exceptions import PoisonEventError
from functions.dlq_redriver.handler import REDRIVEN_FROM_ATTRIBUTE, handler
from tests.unit.functions.fn_factories import FakeContext, ledger_items, new_id


class Crash(Exception):
    """Stands in for the process dying (timeout, OOM) at a chosen point."""


def _queues(aws, name: str = "orders", fifo: bool = False) -> tuple[str, str]:
    suffix = ".fifo" if fifo else ""
    attributes = {"FifoQueue": "true"} if fifo else {}
    source = aws.sqs.create_queue(QueueName=f"{name}{suffix}", Attributes=attributes)["QueueUrl"]
    dlq = aws.sqs.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=attributes)["QueueUrl"]
    return dlq, source


def _drain(aws, url: str) -> list[dict]:
    found = []
    while True:
        batch = aws.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return found
        found.extend(batch)


def test_moves_every_message_back_and_reports_it(aws) -> None:
    # GIVEN three dead-lettered events, one with a message attribute
    dlq, source = _queues(aws)
    ids = [new_id() for _ in range(3)]
    for i, event_id in enumerate(ids):
        extra = (
            {"MessageAttributes": {"kind": {"DataType": "String", "StringValue": "k"}}}
            if i == 0
            else {}
        )
        aws.sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"id": event_id}), **extra)
    # WHEN the redriver runs
    report = handler({"dlq_url": dlq, "source_url": source}, FakeContext())
    # THEN all three are back in the source, unchanged, tagged with their DLQ message id
    assert report == {
        "moved": 3,
        "failed": 0,
        "skipped": 0,
        "by_source": {source: {"dlq_url": dlq, "moved": 3, "failed": 0, "skipped": 0}},
    }
    moved = _drain(aws, source)
    assert sorted(json.loads(m["Body"])["id"] for m in moved) == sorted(ids)
    assert all(REDRIVEN_FROM_ATTRIBUTE in m["MessageAttributes"] for m in moved)
    assert any(m["MessageAttributes"].get("kind", {}).get("StringValue") == "k" for m in moved)
    assert _drain(aws, dlq) == []
    assert ledger_items(aws) == {event_id: 1 for event_id in ids}


def _run_crashing_between_send_and_delete(event: dict) -> None:
    def crash(**kwargs):
        raise Crash("died after the send, before the delete")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clients.client("sqs"), "delete_message", crash)
        with pytest.raises(Crash):
            handler(event, FakeContext())


def test_a_short_timeout_still_moves_the_messages(aws) -> None:
    # GIVEN three dead-lettered events and Lambda's default 3 s timeout (the local stack's)
    dlq, source = _queues(aws)
    for _ in range(3):
        aws.sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"id": new_id()}))
    # WHEN the redriver runs with that little time
    report = handler({"dlq_url": dlq, "source_url": source}, FakeContext(timeout_ms=3000))
    # THEN the time it keeps in reserve does not stop it before the first receive
    assert report["moved"] == 3
    assert len(_drain(aws, source)) == 3


def test_a_crash_between_send_and_delete_does_not_duplicate(idempotent) -> None:
    # GIVEN one dead-lettered event and the process dying right after its send
    aws = idempotent
    dlq, source = _queues(aws)
    aws.sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"id": "only-once"}))
    event = {"dlq_url": dlq, "source_url": source, "visibility_timeout": 0}
    _run_crashing_between_send_and_delete(event)
    # WHEN the redriver runs again and finds the message still in the DLQ
    report = handler(event, FakeContext())
    # THEN it does not send a second copy: the move completes as `skipped`
    assert (report["moved"], report["skipped"], report["failed"]) == (0, 1, 0)
    assert [json.loads(m["Body"])["id"] for m in _drain(aws, source)] == ["only-once"]
    assert _drain(aws, dlq) == []


def test_without_idempotency_the_same_crash_would_duplicate(aws) -> None:
    # The control for the test above: it shows what the idempotency record prevents.
    dlq, source = _queues(aws)
    aws.sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"id": "twice"}))
    event = {"dlq_url": dlq, "source_url": source, "visibility_timeout": 0}
    _run_crashing_between_send_and_delete(event)
    assert handler(event, FakeContext())["moved"] == 1
    copies = [
        m["MessageAttributes"][REDRIVEN_FROM_ATTRIBUTE]["StringValue"] for m in _drain(aws, source)
    ]
    assert len(copies) == 2 and len(set(copies)) == 1  # the duplicate carries the same original id


def test_a_failed_send_leaves_the_message_in_the_dlq(aws) -> None:
    dlq, _ = _queues(aws)
    aws.sqs.send_message(QueueUrl=dlq, MessageBody="not even json")
    missing = dlq.replace("orders-dlq", "does-not-exist")
    report = handler({"dlq_url": dlq, "source_url": missing}, FakeContext())
    assert (report["moved"], report["failed"]) == (0, 1)
    # Still in the DLQ: received (so invisible until its visibility timeout), never deleted.
    attributes = aws.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 1


def test_redrives_every_pair_from_the_environment(aws, monkeypatch) -> None:
    first, second = _queues(aws, "a"), _queues(aws, "b")
    aws.sqs.send_message(QueueUrl=first[0], MessageBody=json.dumps({"id": "a1"}))
    for body in ("b1", "b2"):
        aws.sqs.send_message(QueueUrl=second[0], MessageBody=json.dumps({"id": body}))
    monkeypatch.setenv("REDRIVE_SOURCES", json.dumps(dict([first, second])))
    report = handler({}, FakeContext())
    assert report["moved"] == 3
    assert {k: v["moved"] for k, v in report["by_source"].items()} == {first[1]: 1, second[1]: 2}


def test_one_dlq_goes_home_to_its_configured_source_only(aws, monkeypatch) -> None:
    first, second = _queues(aws, "a"), _queues(aws, "b")
    aws.sqs.send_message(QueueUrl=first[0], MessageBody=json.dumps({"id": "a1"}))
    aws.sqs.send_message(QueueUrl=second[0], MessageBody=json.dumps({"id": "b1"}))
    monkeypatch.setenv("REDRIVE_SOURCES", json.dumps(dict([first, second])))
    report = handler({"dlq_url": second[0]}, FakeContext())
    assert report["moved"] == 1 and list(report["by_source"]) == [second[1]]
    assert [json.loads(m["Body"])["id"] for m in _drain(aws, second[1])] == ["b1"]
    assert [json.loads(m["Body"])["id"] for m in _drain(aws, first[0])] == ["a1"]


def test_a_dlq_the_stack_did_not_configure_is_refused_naming_the_known_ones(
    aws, monkeypatch
) -> None:
    first = _queues(aws, "a")
    monkeypatch.setenv("REDRIVE_SOURCES", json.dumps(dict([first])))
    with pytest.raises(PoisonEventError, match=f"not in REDRIVE_SOURCES.*{first[0]}"):
        handler({"dlq_url": "https://sqs.example/other-dlq"}, FakeContext())
    monkeypatch.setenv("REDRIVE_SOURCES", "{}")
    with pytest.raises(PoisonEventError, match="configured DLQs: none"):
        handler({"dlq_url": first[0]}, FakeContext())


def test_fifo_keeps_the_group_and_deduplicates_by_original_id(aws) -> None:
    dlq, source = _queues(aws, "fifo", fifo=True)
    aws.sqs.send_message(
        QueueUrl=dlq,
        MessageBody=json.dumps({"id": "f1"}),
        MessageGroupId="g7",
        MessageDeduplicationId="d1",
    )
    report = handler({"dlq_url": dlq, "source_url": source}, FakeContext())
    assert report["moved"] == 1
    [moved] = _drain(aws, source)
    assert moved["Attributes"]["MessageGroupId"] == "g7"
    assert (
        moved["Attributes"]["MessageDeduplicationId"]
        == moved["MessageAttributes"][REDRIVEN_FROM_ATTRIBUTE]["StringValue"]
    )


@pytest.mark.parametrize(
    "event",
    [
        {"source_url": "only-one"},
        {"dlq_url": 5},
        {"max_messages": 0},
        {"visibility_timeout": -1},
        ["not", "an", "object"],
    ],
)
def test_bad_input_is_named(aws, event) -> None:
    with pytest.raises(PoisonEventError):
        handler(event, FakeContext())


def test_no_pairs_at_all_names_the_variable(aws) -> None:
    with pytest.raises(Exception, match="REDRIVE_SOURCES"):
        handler({}, FakeContext())
