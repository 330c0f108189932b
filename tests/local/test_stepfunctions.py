"""Step Functions executes its definitions (moto's parser), with Lambda tasks run by the local
runtime, and honours Retry and Catch."""

from __future__ import annotations

import json

FLAKY = """
from collections import Counter
CALLS = Counter()  # the worker stays warm between the retries of one execution
def handler(event, context):
    CALLS[event["id"]] += 1
    calls = CALLS[event["id"]]
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
        timeout=90,
        what="the execution to finish",
    )


def test_lambda_task_retry_then_success_and_catch(aws, make_function, lambda_role, name_for, poll):
    lam = aws("lambda")
    task = make_function(FLAKY)
    comp = make_function(COMPENSATE)
    task_arn = lam.get_function(FunctionName=task)["Configuration"]["FunctionArn"]
    comp_arn = lam.get_function(FunctionName=comp)["Configuration"]["FunctionArn"]
    machine = _machine(aws, lambda_role, name_for, task_arn, comp_arn, max_attempts=1)

    # GIVEN one failure and one retry allowed WHEN run THEN the retry succeeds
    done = _run(aws, poll, machine, {"id": "ok", "fail_times": 1})
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"id": "ok", "calls": 2}

    # GIVEN two failures and one retry WHEN run THEN Catch routes to compensation
    caught = _run(aws, poll, machine, {"id": "bad", "fail_times": 2})
    assert caught["status"] == "SUCCEEDED", caught
    assert json.loads(caught["output"]) == {"compensated": "bad", "error": "RuntimeError"}
