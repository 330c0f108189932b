"""The program's API keys under mocks: the notifier APIs closed by default and opened only by
`notifierApiOpen`, every key a secret output, and delivery reading the slow API's key from
its secret (its ARN in the environment, a grant on that one secret)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components import outputs as keys
from localcloud.deploy import RecordingMocks, run_program

PROJECT_DIR = Path(__file__).resolve().parents[2]
FUNCTION = "aws:lambda/function:Function"
METHOD = "aws:apigateway/method:Method"
API_KEY = "aws:apigateway/apiKey:ApiKey"
PIPELINES = (keys.EVENT_PIPELINE, keys.EVENT_PIPELINE_FLOW)
# pipeline output key -> the instance name the program gives it (its resources' prefix)
NAMES = {keys.EVENT_PIPELINE: "event-pipeline", keys.EVENT_PIPELINE_FLOW: "event-pipeline-flow"}


@pytest.fixture(params=("dev", "local"))
def run(request, program_run):
    return program_run(request.param)


@pytest.fixture(scope="module")
def opened():
    mocks = RecordingMocks()
    outputs = run_program(PROJECT_DIR, "local", mocks, config_overrides={"notifierApiOpen": True})
    return outputs, mocks


def test_each_notifier_api_requires_its_own_key_by_default(run):
    for pipeline in PIPELINES:
        name = NAMES[pipeline]
        # GIVEN the stack's config without notifierApiOpen
        # THEN its method wants x-api-key, and the key it exports is its own API's key
        assert run.mocks.get(METHOD, f"{name}-method").inputs["apiKeyRequired"] is True
        key = run.mocks.get(API_KEY, f"{name}-key")
        out = run.outputs[pipeline]
        assert out["api_key_value"] == key.outputs["value"] and out["api_open"] is False
    values = [run.outputs[p]["api_key_value"] for p in (*PIPELINES, keys.SLOW_API)]
    assert len(set(values)) == 3  # one key per API, none shared


def test_notifier_api_open_only_by_the_config_key(opened):
    outputs, mocks = opened
    # GIVEN notifierApiOpen: true THEN both notifier methods take calls without a key
    for pipeline in PIPELINES:
        name = NAMES[pipeline]
        assert mocks.get(METHOD, f"{name}-method").inputs["apiKeyRequired"] is False
        assert outputs[pipeline]["api_key_value"] is None and outputs[pipeline]["api_open"] is True
    # AND the slow API keeps its key: the switch is the notifier's only
    assert mocks.get(METHOD, "slow-api-method").inputs["apiKeyRequired"] is True
    assert [r.name for r in mocks.of_type(API_KEY)] == ["slow-api-key"]


def test_every_api_key_is_a_secret_output_and_nothing_else_is(run, opened):
    # GIVEN the outputs as the SDK serializes them for the engine
    secret = {f"{p}.api_key_value" for p in (*PIPELINES, keys.SLOW_API)}
    # THEN exactly the keys are secrets, each where it is (the rest of an instance and the
    # routes stay plain)
    assert set(run.mocks.secret_outputs()) == secret
    assert all(path.split(".")[-1] in keys.SECRET_FIELDS for path in secret)
    # AND an open notifier exports no key, so no secret
    assert opened[1].secret_outputs() == [f"{keys.SLOW_API}.api_key_value"]


def test_delivery_has_the_secret_arn_not_the_key_and_may_read_that_secret_only(run):
    slow = run.outputs[keys.SLOW_API]
    secret_arn = slow["api_key_secret_arn"]
    assert secret_arn.startswith("arn:aws:secretsmanager:")
    key_values = {run.outputs[p]["api_key_value"] for p in (*PIPELINES, keys.SLOW_API)}
    for function in run.mocks.of_type(FUNCTION):
        env = function.inputs["environment"]["variables"]
        # No function's environment holds a key value.
        assert not key_values & set(env.values()), function.name
        policy = json.loads(
            run.mocks.get("aws:iam/rolePolicy:RolePolicy", f"{function.name}-access").inputs[
                "policy"
            ]
        )
        grants = [s for s in policy["Statement"] if any("secretsmanager" in a for a in s["Action"])]
        if function.name in {f"{NAMES[p]}-delivery" for p in PIPELINES}:
            assert env["SLOW_API_KEY_SECRET"] == secret_arn and "SLOW_API_KEY" not in env
            assert grants == [
                {
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue"],
                    "Resource": [secret_arn],
                }
            ], function.name
        else:
            assert grants == [], function.name
