"""The event sources' reaches into moto 5.2.5 internals, and the moto SQS behaviour they rely on.

In-memory moto backends only (no server), under an account no other test uses.
Each test fails loudly if a moto upgrade moves what the local cloud patches.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from moto.events.models import Rule
from moto.kinesis.models import Stream
from moto.sqs.models import Queue, sqs_backends

from localcloud.moto_reach import events as events_reach
from localcloud.moto_reach import lambda_ as lambda_reach
from localcloud.moto_reach import sqs as sqs_reach

ACCOUNT = "210987654321"
REGION = "us-east-1"


@pytest.fixture
def sqs() -> object:
    sqs_reach.speed_up_sqs_retention_check()
    sqs_reach.speed_up_sqs_visibility_checks()
    return sqs_backends[ACCOUNT][REGION]


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_send_time_mapping_dict_is_hidden_on_queues_and_streams(sqs) -> None:  # type: ignore[no-untyped-def]
    lambda_reach.disable_send_time_mapping_invocation()
    queue = sqs.create_queue(name("q"))
    queue.lambda_event_source_mappings["arn:fn"] = object()  # what moto's create mapping does
    assert queue.lambda_event_source_mappings == {}
    assert "lambda_event_source_mappings" in Stream.__dict__  # the class-level descriptor
    assert isinstance(
        Queue.__dict__["lambda_event_source_mappings"], lambda_reach._NoSendTimeMappings
    )


def test_fifo_group_is_blocked_while_a_message_is_in_flight(sqs) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a FIFO queue with A1, A2 (group A) and B1 (group B)
    queue_name = name("fifo") + ".fifo"
    sqs.create_queue(
        queue_name, FifoQueue="true", ContentBasedDeduplication="true", VisibilityTimeout="30"
    )
    for body, group in (("A1", "A"), ("A2", "A"), ("B1", "B")):
        sqs.send_message(queue_name, body, group_id=group, deduplication_id=body)
    # WHEN one poller holds A1
    (a1,) = sqs.receive_message(queue_name, 1, 0, 30)
    # THEN another poller gets B1, not A2
    assert a1.body == "A1"
    assert [m.body for m in sqs.receive_message(queue_name, 10, 0, 30)] == ["B1"]
    # AND A2 comes only after A1 is deleted
    sqs.delete_message(queue_name, a1.receipt_handle)
    assert [m.body for m in sqs.receive_message(queue_name, 10, 0, 30)] == ["A2"]


def test_redrive_moves_the_message_on_the_receive_after_max_receive_count(sqs) -> None:  # type: ignore[no-untyped-def]
    dlq_name, source_name = name("dlq"), name("src")
    dlq = sqs.create_queue(dlq_name)
    sqs.create_queue(
        source_name,
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.queue_arn, "maxReceiveCount": 2}),
    )
    sqs.send_message(source_name, '{"id": "p", "poison": true}')
    for _ in range(2):  # two failed deliveries: received, then visible again
        (message,) = sqs.receive_message(source_name, 1, 0, 30)
        sqs.change_message_visibility(source_name, message.receipt_handle, 0)
    assert sqs.receive_message(source_name, 1, 0, 30) == []
    (dead,) = sqs.receive_message(dlq_name, 1, 0, 30)
    assert dead.body == '{"id": "p", "poison": true}'


def test_retention_check_still_expires_old_messages(sqs) -> None:  # type: ignore[no-untyped-def]
    queue_name = name("ret")
    sqs.create_queue(queue_name, MessageRetentionPeriod="60")
    message = sqs.send_message(queue_name, "x")
    assert sqs.is_message_valid_based_on_retention_period(queue_name, message)
    message.sent_timestamp = int((time.time() - 61) * 1000)
    assert not sqs.is_message_valid_based_on_retention_period(queue_name, message)


def test_visibility_uses_epoch_millis(sqs) -> None:  # type: ignore[no-untyped-def]
    queue_name = name("vis")
    sqs.create_queue(queue_name)
    message = sqs.send_message(queue_name, "x")
    message.change_visibility(30)
    assert not message.visible
    message.visible_at = time.time() * 1000 - 1
    assert message.visible and not message.delayed


def test_list_event_source_mappings_reads_the_lambda_backend() -> None:
    mappings = lambda_reach.list_event_source_mappings(ACCOUNT, REGION)
    assert isinstance(mappings, list)  # moto keeps them in LambdaBackend._event_source_mappings


def test_rule_dispatcher_replaces_and_restores_moto_delivery() -> None:
    before, saved = Rule.send_to_targets, events_reach._original_send_to_targets
    seen: list[tuple[str, dict[str, object]]] = []
    rule = Rule(
        name("r"), ACCOUNT, REGION, None, json.dumps({"source": ["a"]}), None, None, "default", None
    )
    try:
        events_reach._original_send_to_targets = None
        events_reach.install_rule_dispatcher(lambda r, e: seen.append((r.name, e)))
        rule.send_to_targets({"source": "a"})
        assert seen == [(rule.name, {"source": "a"})]
        assert events_reach.rule_snapshot(rule)["arn"].endswith(f":rule/{rule.name}")
        events_reach.uninstall_rule_dispatcher()
        assert Rule.send_to_targets is before
    finally:
        Rule.send_to_targets = before  # type: ignore[method-assign]
        events_reach._original_send_to_targets = saved


def test_lazy_queue_attributes_are_moto_s_own_keys_and_values(sqs) -> None:  # type: ignore[no-untyped-def]
    from localcloud.moto_reach.core import ORIGINALS

    sqs_reach.speed_up_sqs_queue_attributes()
    moto_attributes = ORIGINALS["Queue.attributes"].fget
    dlq = sqs.create_queue(name("dlq"))
    plain = sqs.create_queue(name("plain"))
    redriven = sqs.create_queue(
        name("src"),
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.queue_arn, "maxReceiveCount": 3}),
        Policy=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    fifo = sqs.create_queue(name("f") + ".fifo", FifoQueue="true", ContentBasedDeduplication="true")
    sqs.send_message(redriven.name, "one")
    sqs.send_message(redriven.name, "two", delay_seconds=60)
    for queue in (plain, redriven, fifo):
        lazy = queue.attributes
        assert dict(lazy) == moto_attributes(queue)
        assert list(lazy) == list(moto_attributes(queue))
    assert redriven.attributes["ApproximateNumberOfMessages"] == 1
    assert redriven.attributes["ApproximateNumberOfMessagesDelayed"] == 1
    assert fifo.attributes.get("ContentBasedDeduplication") == "true"
    assert "FifoQueue" not in plain.attributes and plain.attributes.get("Policy") is None


def test_cached_method_names_see_an_action_added_by_a_patch() -> None:
    from moto.core import responses

    from localcloud.moto_reach import core

    core._cache_method_names()

    class Probe(responses.BaseResponse):
        def first_action(self) -> None: ...

    assert "first_action" in responses.method_names_from_class(Probe)
    assert "second_action" not in responses.method_names_from_class(Probe)
    Probe.second_action = lambda self: None  # type: ignore[attr-defined]
    assert "second_action" in responses.method_names_from_class(Probe)


def test_fast_receive_and_delete_keep_moto_s_behaviour(sqs) -> None:  # type: ignore[no-untyped-def]
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    from localcloud.moto_reach.core import ORIGINALS

    sqs_reach.speed_up_sqs_receive()
    sqs_reach.speed_up_sqs_delete()
    queue_name = name("fast")
    queue = sqs.create_queue(queue_name, VisibilityTimeout="30")
    for body in ("a", "b", "c"):
        sqs.send_message(queue_name, body)
    sqs.send_message(queue_name, "later", delay_seconds=60)
    # the visible, undelayed messages, in order, as moto's own property lists them
    assert [m.body for m in queue.messages] == ["a", "b", "c"]
    assert [m.body for m in ORIGINALS["Queue.messages"].fget(queue)] == ["a", "b", "c"]
    assert len(queue.messages) == 3 and queue.messages
    (first,) = sqs.receive_message(queue_name, 1, 0, 30)
    assert len(first.receipt_handle) == 185 and first.receipt_handle.isalpha()
    assert first.receipt_handle.islower()
    # a message received twice can be deleted by its first handle (moto keeps old ones)
    sqs.change_message_visibility(queue_name, first.receipt_handle, 0)
    (again,) = sqs.receive_message(queue_name, 1, 0, 30)
    assert again.body == "a" and again.receipt_handle != first.receipt_handle
    sqs.delete_message(queue_name, first.receipt_handle)
    assert [m.body for m in queue._messages] == ["b", "c", "later"]
    sqs.delete_message(queue_name, again.receipt_handle)  # deleted already: accepted again
    with pytest.raises(ReceiptHandleIsInvalid):
        sqs.delete_message(queue_name, "x" * 185)
    assert [m.body for m in queue._messages] == ["b", "c", "later"]
