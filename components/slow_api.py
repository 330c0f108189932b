"""SlowApi: the third-party API of the observability demo, behind API Gateway.

Synchronous: no retries by anyone but the caller. Over the usage plan -> 429,
missing key -> 403, integration past 29 s -> 504.
"""

from __future__ import annotations

from typing import NotRequired

import pulumi
import pulumi_aws as aws

from components import contract, validation
from components import outputs as keys
from components.alarms import AlarmArgs, AlarmFactory, validate_alarm_args
from components.api import INTEGRATION_LIMIT_MS, LambdaRestApi
from components.function import FunctionArgs, LambdaFunction, LedgerArgs, validate_function_args

__all__ = ["SETTINGS", "SlowApi", "SlowApiArgs", "validate"]

NAME = "SlowApi"
MAX_DELAY = INTEGRATION_LIMIT_MS / 1000  # a delay past API Gateway's integration limit is a 504


class SlowApiArgs(contract.InstanceArgs):
    """API Gateway REST API with an API key and a usage plan, in front of slow_api."""

    function: FunctionArgs
    """The API (handler functions.slow_api.handler.handler)."""
    ledger: LedgerArgs
    """The stack's ledger and idempotency tables."""
    ledger_pattern: NotRequired[str]
    """LEDGER_PATTERN of the function."""
    alarms: AlarmArgs
    """Alarm topic and timing."""
    failure_rate: NotRequired[float]
    """Share of calls failing at once with 500."""
    min_delay: NotRequired[float]
    """Lower bound of the uniform delay of the other calls, seconds."""
    max_delay: NotRequired[float]
    """Upper bound, >= min_delay, seconds."""
    seed: NotRequired[int]
    """Seed of the API's random draws; unset means unseeded."""
    rate_limit: NotRequired[float]
    """Usage plan steady rate, requests/s."""
    burst_limit: NotRequired[int]
    """Usage plan burst."""
    integration_timeout_ms: NotRequired[int]
    """API Gateway integration timeout, ms."""


# The seed demo's figures: 20% fail at once, the rest answer in 1-10 s, 10 requests/s.
SETTINGS = validation.Settings(
    SlowApiArgs,
    failure_rate=validation.Setting(0.2, 0.0, 1.0),
    min_delay=validation.Setting(1.0, 0.0, MAX_DELAY),
    max_delay=validation.Setting(10.0, 0.0, MAX_DELAY),
    seed=validation.Setting(None, 0, 2**32 - 1),
    rate_limit=validation.Setting(10.0, 0.1, 10_000.0),
    burst_limit=validation.Setting(10, 1, 5000),
    integration_timeout_ms=validation.Setting(INTEGRATION_LIMIT_MS, 50, INTEGRATION_LIMIT_MS),
)


def validate(args: SlowApiArgs) -> SlowApiArgs:
    for field in ("function", "ledger", "alarms"):
        validation.require(NAME, args, field)
    validate_function_args(NAME, "function", args["function"])
    validate_alarm_args(NAME, args["alarms"])
    SETTINGS.check(NAME, args)
    low = SETTINGS.value(args, "min_delay")
    validation.number_range(NAME, "max_delay", SETTINGS.value(args, "max_delay"), low, MAX_DELAY)
    return args


class SlowApi(contract.PatternComponent):
    """A slow, flaky API that callers must protect themselves from."""

    def __init__(self, name: str, args: SlowApiArgs, opts: pulumi.ResourceOptions | None = None):
        validate(args)
        super().__init__(NAME, name, args, opts)
        self.failure_rate = float(SETTINGS.value(args, "failure_rate"))
        self.rate_limit = float(SETTINGS.value(args, "rate_limit"))
        self.burst_limit = SETTINGS.value(args, "burst_limit")
        env = {
            "SLOW_API_FAILURE_RATE": str(self.failure_rate),
            "SLOW_API_MIN_DELAY": str(float(SETTINGS.value(args, "min_delay"))),
            "SLOW_API_MAX_DELAY": str(float(SETTINGS.value(args, "max_delay"))),
        }
        if "seed" in args:
            env["SLOW_API_SEED"] = str(args["seed"])
        self.api_function = LambdaFunction(
            self,
            f"{name}-function",
            args["function"],
            ledger=args["ledger"],
            ledger_pattern=self.ledger_pattern,
            environment=env,
        )
        self.api = LambdaRestApi(
            self,
            name,
            self.api_function.function,
            http_method="ANY",
            path_part=None,
            api_key_required=True,
            throttle=(self.rate_limit, self.burst_limit),
            timeout_ms=SETTINGS.value(args, "integration_timeout_ms"),
        )
        self.api_key = self.api.required_key()
        opts_child = pulumi.ResourceOptions(parent=self)
        # Callers read the key from Secrets Manager at run time, never from their environment
        # (a function's environment is readable by anyone with lambda:GetFunctionConfiguration).
        # Secrets Manager rather than an SSM SecureString: a secret keeps its versions under
        # staging labels (AWSCURRENT, AWSPREVIOUS) and rotates with RotateSecret, which is
        # what rotating an API key needs; the cost is USD 0.40 a month (a standard parameter
        # is free).
        # A copy of the ApiKey's value, so nothing is lost when it goes at once on destroy.
        self.key_secret = aws.secretsmanager.Secret(
            f"{name}-key-secret",
            description=f"{name}: the API key callers send as x-api-key",
            recovery_window_in_days=0,
            opts=opts_child,
        )
        key_version = aws.secretsmanager.SecretVersion(
            f"{name}-key-secret-value",
            secret_id=self.key_secret.id,
            secret_string=self.api_key.value,
            opts=opts_child,
        )
        # The version's ARN is the secret's: a caller wired to it is created after the value.
        self.key_secret_arn: pulumi.Output[str] = key_version.secret_arn
        self.alarm_factory = AlarmFactory(self, name, args["alarms"])
        self.alarm_factory.errors_and_throttles("", self.api_function.function)
        self.alarm_factory.metric(
            "server_errors",
            namespace="AWS/ApiGateway",
            metric_name="5XXError",
            dimensions={"ApiName": self.api.rest_api.name, "Stage": self.api.stage.stage_name},
            description=f"{name}: the API answered 5xx",
        )
        # A dict, not one Output.all: its secret field stays the only secret one.
        self.outputs = {
            "function": pulumi.Output.all(**self.api_function.outputs()),
            "url": self.api.base_url,
            "api_id": self.api.rest_api.id,
            "api_key_id": self.api_key.id,
            "api_key_value": self.api.api_key_value,
            "api_key_secret_arn": self.key_secret_arn,
            "rate_limit": self.rate_limit,
            "burst_limit": self.burst_limit,
            "failure_rate": self.failure_rate,
            "alarms": pulumi.Output.all(**self.alarm_factory.names()),
        }
        self.register_outputs({"outputs": self.outputs})
        contract.declare(self, keys.SLOW_API, name, opts)
