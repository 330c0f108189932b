"""The reaches in localcloud/moto_reach/ (cloudwatch, sqs, sns, dynamodb, apigateway) that
the alarms, metrics and capacity use, so a moto upgrade fails here, loudly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import moto
import pytest
from moto import mock_aws

from localcloud.moto_reach import apigateway as apigateway_reach
from localcloud.moto_reach import cloudwatch as cloudwatch_reach
from localcloud.moto_reach import dynamodb as dynamodb_reach
from localcloud.moto_reach import sns as sns_reach
from localcloud.moto_reach import sqs as sqs_reach

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        cloudwatch_reach.patch_moto()
        yield lambda name: boto3.client(name, region_name=REGION)
        sqs_reach.take_sqs_counts()


def test_moto_is_the_pinned_version() -> None:
    assert moto.__version__ == "5.2.5", "re-check each reach in localcloud/moto_reach/"


def test_cloudwatch_reaches(aws: Any) -> None:
    cw = aws("cloudwatch")
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    cw.put_metric_data(
        Namespace="N",
        MetricData=[
            {
                "MetricName": "raw",
                "Value": 2.0,
                "Timestamp": stamp,
                "Dimensions": [{"Name": "D", "Value": "v"}],
            },
            {
                "MetricName": "set",
                "Timestamp": stamp,
                "StatisticValues": {"SampleCount": 2, "Sum": 3, "Minimum": 1, "Maximum": 2},
            },
        ],
    )
    backend = cloudwatch_reach.cloudwatch_backend(ACCOUNT, REGION)
    assert any(b is backend for _, _, b in cloudwatch_reach.cloudwatch_backends_iter())
    raw, agg = cloudwatch_reach.metric_data(backend)
    namespace, name, dims, when, _ = cloudwatch_reach.datum_fields(raw)
    assert (namespace, name, dims, when) == ("N", "raw", frozenset({("D", "v")}), stamp)
    assert cloudwatch_reach.datum_stats(raw) == (2.0, 2.0, 2.0, 1.0, (2.0,))
    assert cloudwatch_reach.datum_stats(agg) == (1.0, 2.0, 3.0, 2.0, ())
    shared = cloudwatch_reach.shared_dimensions({"QueueName": "q"})
    cloudwatch_reach.append_datum(
        backend, "AWS/SQS", "m", 1.0, shared, stamp.replace(tzinfo=None), "Count"
    )
    assert cloudwatch_reach.datum_fields(cloudwatch_reach.metric_data(backend)[-1])[2] == frozenset(
        {("QueueName", "q")}
    )
    cloudwatch_reach.drop_oldest_metric_data(backend, 2)
    assert len(cloudwatch_reach.metric_data(backend)) == 1

    # Alarms: the patch starts them INSUFFICIENT_DATA, transitions reach the listeners,
    # and DescribeAlarmHistory is answered by the handler.
    seen: list[tuple[str, str]] = []

    def listener(alarm: Any, old: str, _reason: str) -> None:
        seen.append((old, alarm.state_value))

    cloudwatch_reach.add_transition_listener(listener)
    cloudwatch_reach.set_history_handler(
        lambda a, r, p: {
            "AlarmHistoryItems": [
                {"AlarmName": p["AlarmName"], "HistoryItemType": "StateUpdate", "HistorySummary": a}
            ]
        }
    )
    try:
        cw.put_metric_alarm(
            AlarmName="a",
            Namespace="N",
            MetricName="raw",
            Statistic="Sum",
            Period=10,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
        (alarm,) = cloudwatch_reach.alarms(backend)
        assert alarm.state_value == "INSUFFICIENT_DATA"
        assert cloudwatch_reach.alarm_account(alarm) == ACCOUNT
        cloudwatch_reach.set_alarm_state(alarm, "ALARM", "r", "{}")
        assert seen == [("INSUFFICIENT_DATA", "ALARM")]
        history = cw.describe_alarm_history(AlarmName="a")["AlarmHistoryItems"]
        assert history[0]["HistorySummary"] == ACCOUNT
    finally:
        cloudwatch_reach.remove_transition_listener(listener)
        cloudwatch_reach.set_history_handler(lambda a, r, p: {"AlarmHistoryItems": []})


def test_sqs_sns_reaches(aws: Any) -> None:
    sqs, sns = aws("sqs"), aws("sns")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sqs_reach.take_sqs_counts()
    assert sns_reach.sns_publish(ACCOUNT, REGION, topic, "subject", "hello")
    sqs.send_message(QueueUrl=url, MessageBody="b", DelaySeconds=60)
    got = sqs.receive_message(QueueUrl=url)["Messages"]
    (queue,) = [q for _, _, q in sqs_reach.sqs_queues() if q.name == "q"]
    gauges = sqs_reach.queue_gauges(queue, datetime.now(UTC).timestamp() * 1000 + 5000)
    assert gauges["ApproximateNumberOfMessagesNotVisible"] == 1
    assert gauges["ApproximateNumberOfMessagesDelayed"] == 1
    assert gauges["ApproximateAgeOfOldestMessage"] >= 5
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    counts = sqs_reach.take_sqs_counts()[(ACCOUNT, REGION, "q")]
    assert counts == {
        "NumberOfMessagesSent": 2,
        "NumberOfMessagesReceived": 1,
        "NumberOfMessagesDeleted": 1,
    }


def test_dynamodb_and_apigateway_reaches(aws: Any) -> None:
    ddb = aws("dynamodb")
    ddb.create_table(
        TableName="t",
        BillingMode="PROVISIONED",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 2},
    )
    ddb.put_item(TableName="t", Item={"id": {"S": "k"}, "v": {"N": "1"}})
    table = dynamodb_reach.dynamodb_table(ACCOUNT, REGION, "t")
    assert dynamodb_reach.table_capacity(table) == ("PROVISIONED", 3.0, 2.0)
    assert 0 <= dynamodb_reach.table_age(table) < 60
    assert dynamodb_reach.existing_item(table, {"id": {"S": "k"}}) == {
        "id": {"S": "k"},
        "v": {"N": "1"},
    }
    assert dynamodb_reach.existing_item(table, {"id": {"S": "nope"}}) is None
    assert dynamodb_reach.dynamodb_table(ACCOUNT, REGION, "missing") is None

    gw = aws("apigateway")
    api_id = gw.create_rest_api(name="a")["id"]
    root = gw.get_resources(restApiId=api_id)["items"][0]["id"]
    gw.put_method(
        restApiId=api_id,
        resourceId=root,
        httpMethod="GET",
        authorizationType="NONE",
        apiKeyRequired=True,
    )
    gw.put_integration(
        restApiId=api_id,
        resourceId=root,
        httpMethod="GET",
        type="MOCK",
        requestTemplates={"application/json": "{}"},
        timeoutInMillis=1000,
    )
    gw.put_integration_response(
        restApiId=api_id,
        resourceId=root,
        httpMethod="GET",
        statusCode="200",
        selectionPattern="",
        responseTemplates={"application/json": "{}"},
    )
    gw.create_deployment(restApiId=api_id, stageName="dev")
    key = gw.create_api_key(name="k", enabled=True)
    plan = gw.create_usage_plan(
        name="p",
        apiStages=[{"apiId": api_id, "stage": "dev"}],
        throttle={"rateLimit": 1.0, "burstLimit": 1},
        quota={"limit": 5, "period": "DAY"},
    )
    gw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    backend = apigateway_reach.apigateway_backend(ACCOUNT, REGION)
    api = backend.apis[api_id]
    assert "dev" in api.stages and isinstance(api.stages["dev"].variables, dict)
    resource = api.resources[root]
    assert resource.get_path() == "/"
    method = resource.resource_methods["GET"]
    assert method.api_key_required is True
    integration = method.method_integration
    assert (integration.integration_type, integration.timeout_in_millis) == ("MOCK", 1000)
    assert integration.request_templates == {"application/json": "{}"}
    response = integration.integration_responses["200"]
    assert (response.status_code, response.response_templates) == (
        "200",
        {"application/json": "{}"},
    )
    stored_key = backend.keys[key["id"]]
    assert (stored_key.value, stored_key.enabled) == (key["value"], True)
    stored_plan = backend.usage_plans[plan["id"]]
    assert stored_plan.api_stages == [{"apiId": api_id, "stage": "dev"}]
    assert stored_plan.throttle == {"rateLimit": 1.0, "burstLimit": 1}
    assert stored_plan.quota["limit"] == 5
    assert key["id"] in backend.usage_plan_keys[plan["id"]]
