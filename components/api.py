"""A REST API (API Gateway v1) in front of one Lambda function, proxy integration.

Authenticated by default: the method requires an API key (x-api-key), and the API's own key
is in a usage plan on its stage, since API Gateway accepts a key only through a usage plan
that names the stage (API Gateway developer guide, "Usage plans and API keys").
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

__all__ = ["INTEGRATION_LIMIT_MS", "LambdaRestApi"]

INTEGRATION_LIMIT_MS = 29_000  # API Gateway's default maximum integration timeout
STAGE = "v1"


class LambdaRestApi:
    """RestApi -> (resource) -> method -> AWS_PROXY integration -> deployment -> stage, and
    unless the API is open, ApiKey -> UsagePlan on the stage -> UsagePlanKey.

    Children of `parent`. `path_part=None` puts the method on the API's root. `throttle`
    (rate per second, burst) is the usage plan's; None leaves the plan unthrottled (the
    account's and stage's limits still apply).
    """

    def __init__(
        self,
        parent: pulumi.Resource,
        name: str,
        function: aws.lambda_.Function,
        *,
        http_method: str,
        path_part: str | None,
        api_key_required: bool = True,
        throttle: tuple[float, int] | None = None,
        timeout_ms: int = INTEGRATION_LIMIT_MS,
    ) -> None:
        opts = pulumi.ResourceOptions(parent=parent)
        self.name = name
        self.rest_api = aws.apigateway.RestApi(f"{name}-api", opts=opts)
        if path_part is None:
            resource_id: pulumi.Input[str] = self.rest_api.root_resource_id
            route = "/"
        else:
            resource = aws.apigateway.Resource(
                f"{name}-resource",
                rest_api=self.rest_api.id,
                parent_id=self.rest_api.root_resource_id,
                path_part=path_part,
                opts=opts,
            )
            resource_id = resource.id
            route = f"/{path_part}"
        method = aws.apigateway.Method(
            f"{name}-method",
            rest_api=self.rest_api.id,
            resource_id=resource_id,
            http_method=http_method,
            authorization="NONE",
            api_key_required=api_key_required,
            opts=opts,
        )
        integration = aws.apigateway.Integration(
            f"{name}-integration",
            rest_api=self.rest_api.id,
            resource_id=resource_id,
            http_method=method.http_method,
            type="AWS_PROXY",
            # Proxy integrations always call Lambda with POST, whatever the client used.
            integration_http_method="POST",
            uri=function.invoke_arn,
            timeout_milliseconds=timeout_ms,
            opts=opts,
        )
        self.permission = aws.lambda_.Permission(
            f"{name}-api-permission",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="apigateway.amazonaws.com",
            # This API, any stage, this method and path only.
            source_arn=pulumi.Output.concat(
                self.rest_api.execution_arn,
                f"/*/{'*' if http_method == 'ANY' else http_method}{route}",
            ),
            opts=opts,
        )
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.rest_api.id,
            # A deployment is a snapshot: redeploy when the route changes.
            triggers={"route": f"{http_method} {route} {api_key_required}"},
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[method, integration]),
        )
        self.stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.rest_api.id,
            deployment=deployment.id,
            stage_name=STAGE,
            opts=opts,
        )
        self.route = route
        self.api_key: aws.apigateway.ApiKey | None = None
        self.usage_plan: aws.apigateway.UsagePlan | None = None
        if api_key_required:
            self._usage_plan(name, opts, throttle)

    def _usage_plan(
        self, name: str, opts: pulumi.ResourceOptions, throttle: tuple[float, int] | None
    ) -> None:
        self.api_key = aws.apigateway.ApiKey(f"{name}-key", enabled=True, opts=opts)
        extra = {}
        if throttle is not None:
            rate, burst = throttle
            extra["throttle_settings"] = aws.apigateway.UsagePlanThrottleSettingsArgs(
                rate_limit=rate, burst_limit=burst
            )
        self.usage_plan = aws.apigateway.UsagePlan(
            f"{name}-plan",
            api_stages=[
                aws.apigateway.UsagePlanApiStageArgs(
                    api_id=self.rest_api.id, stage=self.stage.stage_name
                )
            ],
            opts=opts,
            **extra,
        )
        aws.apigateway.UsagePlanKey(
            f"{name}-plan-key",
            key_id=self.api_key.id,
            key_type="API_KEY",
            usage_plan_id=self.usage_plan.id,
            opts=opts,
        )

    def required_key(self) -> aws.apigateway.ApiKey:
        """The API's key: asking an open API for one is a bug of its caller."""
        if self.api_key is None:
            raise ValueError(f"{self.name}: the API is open and has no API key")
        return self.api_key

    @property
    def api_key_value(self) -> pulumi.Output[str] | None:
        """The key a caller sends as x-api-key, as a Pulumi secret; None when the API is open."""
        if self.api_key is None:
            return None
        return pulumi.Output.secret(self.api_key.value)

    @property
    def base_url(self) -> pulumi.Output[str]:
        """The stage's invoke URL, ending with '/'."""
        return self.stage.invoke_url.apply(lambda url: url.rstrip("/") + "/")
