"""moto's response serializer with the remembered attribute names (moto_reach.core) writes
exactly what moto's own picker writes: for real answers of three services and protocols,
and for objects of different types under one shape."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import serialize
from moto.core.utils import get_service_model

from localcloud.moto_reach import core

VOLATILE = {
    "ReceiptHandle",
    "ResponseMetadata",
    "ApproximateFirstReceiveTimestamp",
    "ApproximateReceiveCount",
}


@pytest.fixture
def pickers() -> Iterator[tuple[Callable[..., Any], Callable[..., Any]]]:
    core._cache_possible_keys()
    cached = serialize.XFormedAttributePicker.get_possible_keys
    original = core.ORIGINALS["XFormedAttributePicker.get_possible_keys"]
    yield original, cached
    serialize.XFormedAttributePicker.get_possible_keys = cached  # type: ignore[method-assign]


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _reads(region: str) -> list[Any]:
    sqs = boto3.client("sqs", region_name=region)
    sns = boto3.client("sns", region_name=region)
    ddb = boto3.client("dynamodb", region_name=region)
    url = sqs.get_queue_url(QueueName="cache-q")["QueueUrl"]
    return [
        sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ),
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
        sqs.list_queues(),
        sns.list_topics(),
        sns.get_topic_attributes(TopicArn=sns.list_topics()["Topics"][0]["TopicArn"]),
        ddb.describe_table(TableName="cache-t"),
        ddb.get_item(TableName="cache-t", Key={"pk": {"S": "a"}}),
    ]


def test_real_answers_are_the_same_with_the_remembered_names(pickers) -> None:  # type: ignore[no-untyped-def]
    original, cached = pickers
    region = "eu-west-3"
    with mock_aws():
        sqs = boto3.client("sqs", region_name=region)
        url = sqs.create_queue(QueueName="cache-q", Attributes={"DelaySeconds": "0"})["QueueUrl"]
        answer = sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": "ok",
                    "MessageBody": json.dumps({"n": 1}),
                    "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "x"}},
                },
                {"Id": "late", "MessageBody": "b", "DelaySeconds": 901},  # refused per entry
            ],
        )
        assert [e["Id"] for e in answer["Successful"]] == ["ok"]
        assert [e["Id"] for e in answer["Failed"]] == ["late"]
        boto3.client("sns", region_name=region).create_topic(Name="cache-topic")
        ddb = boto3.client("dynamodb", region_name=region)
        ddb.create_table(
            TableName="cache-t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName="cache-t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})

        serialize.XFormedAttributePicker.get_possible_keys = original  # type: ignore[method-assign]
        by_moto = _reads(region)
        serialize.XFormedAttributePicker.get_possible_keys = cached  # type: ignore[method-assign]
        remembered = _reads(region)
        again = _reads(region)  # now every name comes from what was remembered
    assert by_moto[0]["Messages"][0]["MessageAttributes"]["kind"]["StringValue"] == "x"
    assert _stable(remembered) == _stable(by_moto)
    assert _stable(again) == _stable(by_moto)


class _Plain:
    def __init__(self) -> None:
        self.message_id = "m-plain"
        self.body = "plain body"


class _Aliased:
    class Meta:
        serialization_aliases = {"Body": "text"}

    def __init__(self) -> None:
        self.message_id = "m-aliased"
        self.text = "aliased body"
        self.body = "not this one"


def test_objects_of_other_types_under_one_shape_keep_their_own_names(pickers) -> None:  # type: ignore[no-untyped-def]
    original, cached = pickers
    operation = get_service_model("sqs").operation_model("ReceiveMessage")
    result = {"Messages": [_Plain(), _Aliased(), {"MessageId": "m-dict", "Body": "dict body"}]}

    def write(picker: Callable[..., Any]) -> Any:
        serialize.XFormedAttributePicker.get_possible_keys = picker  # type: ignore[method-assign]
        serializer = serialize.get_serializer_class("sqs", "json")(
            operation_model=operation,
            pretty_print=False,
            value_picker=serialize.XFormedAttributePicker(),
        )
        return json.loads(serializer.serialize(result)["body"])

    by_moto = write(original)
    assert [m["Body"] for m in by_moto["Messages"]] == ["plain body", "aliased body", "dict body"]
    assert write(cached) == by_moto
    assert write(cached) == by_moto


class _ShortNames:
    """Attributes named as moto's models often are: `id`, not `message_id`."""

    def __init__(self) -> None:
        self.id = "m-short"
        self.body = "short body"


def test_one_key_under_two_shapes_keeps_each_shape_s_names(pickers) -> None:  # type: ignore[no-untyped-def]
    original, cached = pickers
    model = get_service_model("sqs")

    def write(picker: Callable[..., Any], operation: str, result: Any) -> Any:
        serialize.XFormedAttributePicker.get_possible_keys = picker  # type: ignore[method-assign]
        serializer = serialize.get_serializer_class("sqs", "json")(
            operation_model=model.operation_model(operation),
            pretty_print=False,
            value_picker=serialize.XFormedAttributePicker(),
        )
        return json.loads(serializer.serialize(result)["body"])

    # Under the Message shape, MessageId may be read from `id` (moto's shape-prefix alias);
    # under SendMessage's result it may not.
    received = {"Messages": [_ShortNames()]}
    sent = _ShortNames()
    by_moto = write(original, "ReceiveMessage", received), write(original, "SendMessage", sent)
    assert by_moto[0]["Messages"][0]["MessageId"] == "m-short"
    assert "MessageId" not in by_moto[1]
    remembered = write(cached, "ReceiveMessage", received), write(cached, "SendMessage", sent)
    assert remembered == by_moto
