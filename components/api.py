"""A REST API (API Gateway v1) in front of one Lambda function, proxy integration."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

__all__ = ["INTEGRATION_LIMIT_MS", "LambdaRestApi"]

INTEGRATION_LIMIT_MS = 29_000  # API Gateway's default maximum integration timeout
STAGE = "v1"


class LambdaRestApi:
    """RestApi -> (resource) -> method -> AWS_PROXY integration -> deployment -> stage.

    Children of `parent`. `path_part=None` puts the method on the API's root.
    """

    def __init__(
        self,
        parent: pulumi.Resource,
        name: str,
        function: aws.lambda_.Function,
        *,
        http_method: str,
        path_part: str | None,
        api_key_required: bool = False,
        timeout_ms: int = INTEGRATION_LIMIT_MS,
    ) -> None:
        opts = pulumi.ResourceOptions(parent=parent)
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

    @property
    def base_url(self) -> pulumi.Output[str]:
        """The stage's invoke URL, ending with '/'."""
        return self.stage.invoke_url.apply(lambda url: url.rstrip("/") + "/")
