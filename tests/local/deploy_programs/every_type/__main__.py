"""One resource of every type the emulated deploy handles (fixture for tests/local/test_deploy*)."""

from __future__ import annotations

import json
import os

import pulumi
import pulumi_aws as aws

config = pulumi.Config()
max_receive_count = config.get_int("maxReceiveCount") or 3
timeout = config.get_int("functionTimeout") or 5
with_fifo = config.get_bool("withFifo")
layer_marker = config.get("layerMarker") or "1"
here = os.path.dirname(os.path.abspath(__file__))

assume = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
role = aws.iam.Role("fn-role", assume_role_policy=assume)
queue_dlq = aws.sqs.Queue("dlq", message_retention_seconds=1209600, sqs_managed_sse_enabled=True)
queue = aws.sqs.Queue(
    "work",
    visibility_timeout_seconds=timeout * 6,
    sqs_managed_sse_enabled=True,
    redrive_policy=queue_dlq.arn.apply(
        lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count})
    ),
)
fifo = (
    aws.sqs.Queue("ordered", fifo_queue=True, content_based_deduplication=True)
    if with_fifo
    else None
)
stream = aws.kinesis.Stream("stream", shard_count=1, retention_period=24)
# Lambda checks the role when the function's DLQ, its destinations and its mappings are
# configured: the policy is in place before the function.
fn_policy = aws.iam.RolePolicy(
    "fn-policy",
    role=role.id,
    policy=pulumi.Output.all(queue.arn, queue_dlq.arn, stream.arn).apply(
        lambda arns: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["sqs:*"], "Resource": list(arns[:2])},
                    {"Effect": "Allow", "Action": ["kinesis:*"], "Resource": [arns[2]]},
                ],
            }
        )
    ),
)
logs_policy = aws.iam.Policy(
    "fn-logs",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["logs:*"], "Resource": "*"}],
        }
    ),
)
aws.iam.RolePolicyAttachment("fn-logs-attach", role=role.name, policy_arn=logs_policy.arn)
layer = aws.lambda_.LayerVersion(
    "deps",
    layer_name="every-type-deps",
    code=pulumi.AssetArchive(
        {"python/deps_marker.py": pulumi.StringAsset(f"X = {layer_marker!r}\n")}
    ),
    compatible_runtimes=["python3.11"],
)
fn = aws.lambda_.Function(
    "worker",
    role=role.arn,
    runtime="python3.11",
    handler="handler.app.handler",
    timeout=timeout,
    memory_size=256,
    reserved_concurrent_executions=5,
    layers=[layer.arn],
    code=pulumi.AssetArchive({"handler": pulumi.FileArchive(os.path.join(here, "handler"))}),
    environment={"variables": {"QUEUE_URL": queue.url, "MODE": "test"}},
    dead_letter_config={"target_arn": queue_dlq.arn},
    opts=pulumi.ResourceOptions(depends_on=[fn_policy]),
)
aws.cloudwatch.LogGroup(
    "worker-logs", name=fn.name.apply(lambda n: f"/aws/lambda/{n}"), retention_in_days=14
)
aws.lambda_.FunctionEventInvokeConfig(
    "worker-async",
    function_name=fn.name,
    maximum_retry_attempts=1,
    maximum_event_age_in_seconds=120,
    destination_config={"on_failure": {"destination": queue_dlq.arn}},
)
mapping = aws.lambda_.EventSourceMapping(
    "worker-mapping",
    event_source_arn=queue.arn,
    function_name=fn.arn,
    batch_size=5,
    maximum_batching_window_in_seconds=1,
    function_response_types=["ReportBatchItemFailures"],
    scaling_config={"maximum_concurrency": 2},
)
topic = aws.sns.Topic("events", kms_master_key_id="alias/aws/sns")
aws.lambda_.Permission(
    "worker-from-sns",
    action="lambda:InvokeFunction",
    function=fn.name,
    principal="sns.amazonaws.com",
    source_arn=topic.arn,
)
aws.sqs.QueuePolicy(
    "work-policy",
    queue_url=queue.id,
    policy=pulumi.Output.all(queue.arn, topic.arn).apply(
        lambda a: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": a[0],
                        "Condition": {"ArnEquals": {"aws:SourceArn": a[1]}},
                    }
                ],
            }
        )
    ),
)
aws.sns.TopicSubscription(
    "work-sub",
    topic=topic.arn,
    protocol="sqs",
    endpoint=queue.arn,
    raw_message_delivery=True,
    filter_policy=json.dumps({"kind": ["order"]}),
    redrive_policy=queue_dlq.arn.apply(lambda arn: json.dumps({"deadLetterTargetArn": arn})),
)
table = aws.dynamodb.Table(
    "rides",
    billing_mode="PROVISIONED",
    read_capacity=1,
    write_capacity=1,
    hash_key="pattern",
    range_key="event_id",
    attributes=[{"name": "pattern", "type": "S"}, {"name": "event_id", "type": "S"}],
)
target = aws.appautoscaling.Target(
    "rides-write",
    service_namespace="dynamodb",
    resource_id=table.name.apply(lambda n: f"table/{n}"),
    scalable_dimension="dynamodb:table:WriteCapacityUnits",
    min_capacity=1,
    max_capacity=10,
)
aws.appautoscaling.Policy(
    "rides-write-policy",
    policy_type="TargetTrackingScaling",
    service_namespace=target.service_namespace,
    resource_id=target.resource_id,
    scalable_dimension=target.scalable_dimension,
    target_tracking_scaling_policy_configuration={
        "target_value": 70.0,
        "predefined_metric_specification": {
            "predefined_metric_type": "DynamoDBWriteCapacityUtilization"
        },
    },
)
bus = aws.cloudwatch.EventBus("bus")
rule = aws.cloudwatch.EventRule(
    "rule",
    event_bus_name=bus.name,
    event_pattern=json.dumps({"source": ["every-type"]}),
)
aws.cloudwatch.EventTarget(
    "rule-target",
    rule=rule.name,
    event_bus_name=bus.name,
    arn=fn.arn,
    retry_policy={"maximum_retry_attempts": 2, "maximum_event_age_in_seconds": 60},
    dead_letter_config={"arn": queue_dlq.arn},
)
aws.lambda_.EventSourceMapping(
    "stream-mapping",
    event_source_arn=stream.arn,
    function_name=fn.name,
    starting_position="TRIM_HORIZON",
    batch_size=10,
    bisect_batch_on_function_error=True,
    maximum_retry_attempts=2,
    maximum_record_age_in_seconds=60,
    destination_config={"on_failure": {"destination_arn": queue_dlq.arn}},
)
machine = aws.sfn.StateMachine(
    "flow",
    role_arn=role.arn,
    definition=fn.arn.apply(
        lambda arn: json.dumps(
            {
                "StartAt": "Step",
                "States": {
                    "Step": {
                        "Type": "Task",
                        "Resource": arn,
                        "Retry": [
                            {
                                "ErrorEquals": ["States.ALL"],
                                "IntervalSeconds": 1,
                                "MaxAttempts": 2,
                                "BackoffRate": 2.0,
                            }
                        ],
                        "End": True,
                    }
                },
            }
        )
    ),
)
api = aws.apigateway.RestApi("api")
resource = aws.apigateway.Resource(
    "api-events", rest_api=api.id, parent_id=api.root_resource_id, path_part="events"
)
method = aws.apigateway.Method(
    "api-post",
    rest_api=api.id,
    resource_id=resource.id,
    http_method="POST",
    authorization="NONE",
    api_key_required=True,
)
integration = aws.apigateway.Integration(
    "api-integration",
    rest_api=api.id,
    resource_id=resource.id,
    http_method=method.http_method,
    type="AWS_PROXY",
    integration_http_method="POST",
    uri=fn.invoke_arn,
    timeout_milliseconds=29000,
)
deployment = aws.apigateway.Deployment(
    "api-deployment",
    rest_api=api.id,
    triggers={"v": "1"},
    opts=pulumi.ResourceOptions(depends_on=[integration]),
)
stage = aws.apigateway.Stage(
    "api-stage", rest_api=api.id, deployment=deployment.id, stage_name="local"
)
key = aws.apigateway.ApiKey("api-key")
plan = aws.apigateway.UsagePlan(
    "api-plan",
    api_stages=[{"api_id": api.id, "stage": stage.stage_name}],
    throttle_settings={"rate_limit": 10, "burst_limit": 10},
)
aws.apigateway.UsagePlanKey(
    "api-plan-key", key_id=key.id, key_type="API_KEY", usage_plan_id=plan.id
)
secret = aws.secretsmanager.Secret(
    "api-key-secret", description="the API key", recovery_window_in_days=0
)
secret_value = aws.secretsmanager.SecretVersion(
    "api-key-secret-value", secret_id=secret.id, secret_string=key.value
)
alarm = aws.cloudwatch.MetricAlarm(
    "dlq-depth",
    namespace="AWS/SQS",
    metric_name="ApproximateNumberOfMessagesVisible",
    dimensions={"QueueName": queue_dlq.name},
    statistic="Maximum",
    period=60,
    evaluation_periods=1,
    threshold=1,
    comparison_operator="GreaterThanOrEqualToThreshold",
    treat_missing_data="notBreaching",
    alarm_actions=[topic.arn],
)

pulumi.export("queue_url", queue.url)
pulumi.export("queue_arn", queue.arn)
pulumi.export("dlq_url", queue_dlq.url)
pulumi.export("fifo_url", fifo.url if fifo else None)
pulumi.export("function", {"name": fn.name, "arn": fn.arn, "timeout": fn.timeout})
pulumi.export("mapping_uuid", mapping.uuid)
pulumi.export("topic_arn", topic.arn)
pulumi.export("table_name", table.name)
pulumi.export("bus_name", bus.name)
pulumi.export("rule_name", rule.name)
pulumi.export("stream_arn", stream.arn)
pulumi.export("stream_name", stream.name)
pulumi.export("state_machine_arn", machine.arn)
pulumi.export("api_id", api.id)
pulumi.export("api_url", stage.invoke_url)
pulumi.export("api_key_value", key.value)
pulumi.export("alarm_name", alarm.name)
pulumi.export("api_key_secret_arn", secret_value.secret_arn)
