"""Reaches into moto's SQS backend (moto.sqs, pinned ==5.2.5): queue reads, call counters for
the AWS/SQS metrics, and speed-ups of moto's per-message work.

tests/local/test_moto_reach.py, tests/unit/localcloud/test_alarm_moto.py and
tests/unit/localcloud/test_es_moto_reach.py fail loudly when a moto upgrade moves one of them.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

# SQS counters observed at moto's backend, so calls that bypass the HTTP API
# (event source mappings, SNS delivery) count too: (account, region, queue) -> name -> n.
_sqs_counts: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
_sqs_counts_lock = threading.Lock()


def sqs_queue_wait_seconds(account_id: str, region: str, queue_url: str) -> int | None:
    """A queue's ReceiveMessageWaitTimeSeconds, or None if the queue does not exist."""
    from moto.sqs.models import sqs_backends

    name = queue_url.rstrip("/").rsplit("/", 1)[-1]
    queue = sqs_backends[account_id][region].queues.get(name)
    return (
        None if queue is None else int(getattr(queue, "receive_message_wait_time_seconds", 0) or 0)
    )


def sqs_queues() -> Iterator[tuple[str, str, Any]]:
    """(account, region, queue) for every queue in every moto SQS backend."""
    from moto.sqs.models import sqs_backends

    for account_id, regions in list(sqs_backends.items()):
        for region, backend in list(regions.items()):
            for queue in list(backend.queues.values()):
                yield account_id, region, queue


def queue_gauges(queue: Any, now_ms: float) -> dict[str, float]:
    """The AWS/SQS gauges of one queue, read from moto's queue state."""
    messages = list(queue._messages)
    visible = not_visible = delayed = 0
    oldest: float | None = None
    for message in messages:
        if message.delayed:
            delayed += 1
        elif message.visible:
            visible += 1
        else:
            not_visible += 1
        stamp = message.sent_timestamp
        if stamp is not None and (oldest is None or stamp < oldest):
            oldest = stamp
    return {
        "ApproximateNumberOfMessagesVisible": float(visible),
        "ApproximateNumberOfMessagesNotVisible": float(not_visible),
        "ApproximateNumberOfMessagesDelayed": float(delayed),
        "ApproximateAgeOfOldestMessage": max(0.0, (now_ms - oldest) / 1000.0) if oldest else 0.0,
    }


def take_sqs_counts() -> dict[tuple[str, str, str], dict[str, int]]:
    """The SQS counters since the last call, reset to zero."""
    with _sqs_counts_lock:
        taken = {key: dict(value) for key, value in _sqs_counts.items()}
        _sqs_counts.clear()
    return taken


def _count(backend: Any, queue_name: str, metric: str, n: int) -> None:
    if n <= 0:
        return
    with _sqs_counts_lock:
        _sqs_counts[(backend.account_id, backend.region_name, queue_name)][metric] += n


def patch_counters() -> None:
    """Count SendMessage, ReceiveMessage and DeleteMessage at moto's backend (for the AWS/SQS
    metrics), once per process (localcloud.moto_reach.cloudwatch.patch_moto installs it)."""
    from moto.sqs.models import SQSBackend

    if getattr(SQSBackend.send_message, "_localcloud_counts", False):
        return
    original_send = SQSBackend.send_message
    original_receive = SQSBackend.receive_message
    original_delete = SQSBackend.delete_message

    def send_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        message = original_send(self, queue_name, *args, **kwargs)
        _count(self, queue_name, "NumberOfMessagesSent", 1)
        return message

    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        result = original_receive(self, queue_name, *args, **kwargs)
        _count(self, queue_name, "NumberOfMessagesReceived", len(result))
        if not result:
            _count(self, queue_name, "NumberOfEmptyReceives", 1)
        return result

    def delete_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        result = original_delete(self, queue_name, *args, **kwargs)
        _count(self, queue_name, "NumberOfMessagesDeleted", 1)
        return result

    send_message._localcloud_counts = True  # type: ignore[attr-defined]
    setattr(SQSBackend, "send_message", send_message)  # noqa: B010
    setattr(SQSBackend, "receive_message", receive_message)  # noqa: B010
    setattr(SQSBackend, "delete_message", delete_message)  # noqa: B010


def speed_up_sqs_retention_check() -> None:
    """moto checks retention per received message via get_queue_attributes(), which computes
    every attribute (message counts included): O(queue length) per message, 0.6 s per
    ReceiveMessage on a 500-message queue. Read the one attribute instead. Idempotent."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    if getattr(SQSBackend.is_message_valid_based_on_retention_period, "_localcloud", False):
        return

    def is_message_valid_based_on_retention_period(
        self: Any, queue_name: str, message: Any
    ) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > unix_time()

    is_message_valid_based_on_retention_period._localcloud = True  # type: ignore[attr-defined]
    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )


def speed_up_sqs_visibility_checks() -> None:
    """moto's Message.visible/.delayed read the clock through datetime conversions, and
    SendMessage evaluates them for every message in the queue (queue.attributes counts
    them): a cheaper clock with the same value (epoch milliseconds). Idempotent."""
    import time

    from moto.sqs.models import Message

    if getattr(Message, "_localcloud_fast_clock", False):
        return

    def visible(self: Any) -> bool:
        return time.time() * 1000 > self.visible_at

    def delayed(self: Any) -> bool:
        return time.time() * 1000 < self.delayed_until

    Message.visible = property(visible)  # type: ignore[assignment,method-assign]
    Message.delayed = property(delayed)  # type: ignore[assignment,method-assign]
    Message._localcloud_fast_clock = True  # type: ignore[attr-defined]


class _QueueAttributes(Mapping[str, Any]):
    """moto's `Queue.attributes`, read-only and computed per key when read: the keys are
    the ones moto's property would give (base, FIFO and KMS attributes when they apply,
    Policy and RedrivePolicy when set), each value what moto's property computes for it."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        if queue.policy:
            names.append("Policy")
        if queue.redrive_policy:
            names.append("RedrivePolicy")
        self._names = dict.fromkeys(names)

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        if name == "Policy":
            return self._queue.policy
        if name == "RedrivePolicy":  # a base attribute too: moto's raw value when unset
            policy = self._queue.redrive_policy
            return json.dumps(policy) if policy else policy
        from moto.core.utils import camelcase_to_underscores

        value = getattr(self._queue, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def speed_up_sqs_queue_attributes() -> None:
    """moto's `Queue.attributes` computes every attribute, the three message counts among
    them (each a pass over the queue), and SendMessage reads it for one flag
    (ContentBasedDeduplication): O(queue length) per message sent, 5 ms per SendMessage
    and 10 ms per 10-message batch with a few thousand messages queued. A mapping that
    computes only what is read instead (the same keys and values). Idempotent."""
    from moto.sqs.models import Queue

    if getattr(Queue, "_localcloud_lazy_attributes", False):
        return
    from localcloud.moto_reach.core import ORIGINALS

    ORIGINALS["Queue.attributes"] = Queue.attributes
    Queue.attributes = property(_QueueAttributes)  # type: ignore[assignment,method-assign]
    Queue._localcloud_lazy_attributes = True  # type: ignore[attr-defined]


class _VisibleMessages:
    """moto's `Queue.messages` (the visible, undelayed messages, in queue order), evaluated
    as it is read: ReceiveMessage stops at its count instead of testing every message."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def __iter__(self) -> Iterator[Any]:
        # A copy of the list: ReceiveMessage moves messages to the DLQ after its loop.
        return (m for m in list(self._queue._messages) if m.visible and not m.delayed)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        return any(True for _ in self)


def speed_up_sqs_receive() -> None:
    """Two per-ReceiveMessage costs of moto that grow with the queue or the batch:
    `Queue.messages` tested every message of the queue for visibility before the first was
    received (O(queue length) per receive), and each receipt handle took 185 calls of
    `random.choice` (1,850 per 10-message receive; a quarter of its time). The same
    values computed lazily, and handles of the same form (185 lowercase letters) from
    one `randbytes` call of moto's own seeded random.
    Idempotent."""
    import string

    from moto.moto_api._internal import mock_random
    from moto.sqs import models

    if getattr(models.Queue, "_localcloud_fast_receive", False):
        return
    from localcloud.moto_reach.core import ORIGINALS

    length = 185  # moto's (AWS allows up to 1,024 characters)
    letters = bytes(ord(string.ascii_lowercase[b % 26]) for b in range(256))
    ORIGINALS["Queue.messages"] = models.Queue.messages
    ORIGINALS["generate_receipt_handle"] = models.generate_receipt_handle
    models.Queue.messages = property(_VisibleMessages)  # type: ignore[assignment,method-assign]
    models.generate_receipt_handle = lambda: (
        mock_random.randbytes(length).translate(letters).decode("ascii")
    )
    models.Queue._localcloud_fast_receive = True  # type: ignore[attr-defined]


def speed_up_sqs_delete() -> None:
    """moto's `Queue.delete_message` walks the queue twice per receipt handle, building each
    message's list of handles at every step (O(queue length) per deleted message: 270
    checks per delete at a 1,000-message backlog, the largest single cost of the SQS
    benchmark). One walk to the message that had the handle, the same effects (handles
    are 185 random letters: at most one message had it). Idempotent."""
    from moto.sqs import models

    if getattr(models.Queue, "_localcloud_fast_delete", False):
        return
    from localcloud.moto_reach.core import ORIGINALS

    ORIGINALS["Queue.delete_message"] = models.Queue.delete_message

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: moto (and SQS) accept it again
        messages = self._messages
        index = next(
            (
                i
                for i, m in enumerate(messages)
                if m.receipt_handle == receipt_handle or receipt_handle in m._old_receipt_handles
            ),
            None,
        )
        if index is None:
            raise models.ReceiptHandleIsInvalid()
        message = messages[index]
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)
        self._messages = messages[:index] + messages[index + 1 :]  # a new list, as moto's

    models.Queue.delete_message = delete_message  # type: ignore[method-assign]
    models.Queue._localcloud_fast_delete = True  # type: ignore[attr-defined]


def queue_visibility_timeout(queue_arn: str, account_id: str, region: str) -> int | None:
    """The VisibilityTimeout of the queue with this ARN, or None if there is none."""
    from moto.sqs.models import sqs_backends

    for queue in list(sqs_backends[account_id][region].queues.values()):
        if queue.queue_arn == queue_arn:
            return int(queue.visibility_timeout)
    return None


def queue_by_arn(account: str, arn: str) -> Any:
    """moto's Queue for an ARN (its account, else `account`), or None."""
    from moto.sqs.models import sqs_backends

    parts = arn.split(":")
    backend = sqs_backends[parts[4] if len(parts) > 4 and parts[4] else account][parts[3]]
    return backend.queues.get(parts[-1])


def send_message_to_arn(arn: str, body: str) -> None:
    """SendMessage straight into moto's backend of the queue with this ARN."""
    from moto.sqs.models import sqs_backends

    parts = arn.split(":")
    sqs_backends[parts[4]][parts[3]].send_message(parts[5], body)
