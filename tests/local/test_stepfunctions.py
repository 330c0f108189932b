"""Step Functions executes its definitions (moto's parser), with Lambda tasks run by the local
runtime, and honours Retry and Catch."""

from __future__ import annotations

import json

FLAKY = """
import os, boto3
def handler(event, context):
    # Fails until it has been called `fail_times` times, counting calls in an SQS queue.
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=event["counter"], MessageBody="call")
    calls = int(sqs.get_queue_attributes(QueueUrl=event["counter"],
        AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
    if calls <= event["fail_times"]:
        raise RuntimeError(f"attempt {calls} fails")
    return {"id": event["id"], "calls": calls}
"""

COMPENSATE = """
def handler(event, context):
    return {"compensated": event["id"], "error": event["error"]["Error"]}
"""


def _machine(aws, lambda_role, name_for, task_arn, comp_arn, max_attempts):
    definition = {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": task_arn,
                "End": True,
                "Retry": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "IntervalSeconds": 1,
                        "MaxAttempts": max_attempts,
                        "BackoffRate": 1.0,
                    }
                ],
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Compensate"}
                ],
            },
            "Compensate": {"Type": "Task", "Resource": comp_arn, "End": True},
        },
    }
    return aws("stepfunctions").create_state_machine(
        name=name_for("sm"), definition=json.dumps(definition), roleArn=lambda_role
    )["stateMachineArn"]


def _run(aws, poll, machine, payload):
    sfn = aws("stepfunctions")
    # No name: AWS generates one (moto's parser alone would call every such execution "None").
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))
    arn = execution["executionArn"]
    return poll(
        lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
        timeout=30,
        what="the execution to finish",
    )


def test_lambda_task_retry_then_success_and_catch(aws, make_function, lambda_role, name_for, poll):
    lam = aws("lambda")
    task = make_function(FLAKY)
    comp = make_function(COMPENSATE)
    task_arn = lam.get_function(FunctionName=task)["Configuration"]["FunctionArn"]
    comp_arn = lam.get_function(FunctionName=comp)["Configuration"]["FunctionArn"]
    machine = _machine(aws, lambda_role, name_for, task_arn, comp_arn, max_attempts=1)
    sqs = aws("sqs")

    # GIVEN one failure and one retry allowed WHEN run THEN the retry succeeds
    counter = sqs.create_queue(QueueName=name_for("calls"))["QueueUrl"]
    done = _run(aws, poll, machine, {"id": "ok", "counter": counter, "fail_times": 1})
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"id": "ok", "calls": 2}

    # GIVEN two failures and one retry WHEN run THEN Catch routes to compensation
    counter = sqs.create_queue(QueueName=name_for("calls"))["QueueUrl"]
    caught = _run(aws, poll, machine, {"id": "bad", "counter": counter, "fail_times": 2})
    assert caught["status"] == "SUCCEEDED", caught
    assert json.loads(caught["output"]) == {"compensated": "bad", "error": "RuntimeError"}
