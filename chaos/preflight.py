"""Preflight: the deployed configuration, read back from the cloud, judged by the policy pack.

The outputs only say which resources a pattern has; every setting judged here is
read from the cloud itself (SQS, Lambda, CloudWatch, SNS, EventBridge, IAM), turned
into the same pulumi-aws camelCase Resources the pack reads from the program graph,
and judged by the pack's own check functions. So a stack deployed without the pack
(the emulated deploy, `pulumi up` without `--policy-pack`) and a stack that drifted
since its deploy are held to the same rules. Every queue a setting names (a redrive
target, a DLQ, a destination) is read too, and the alarms on every DLQ are found by
metric, not only by the names in the outputs: an alarm on the wrong queue then
leaves its DLQ unwatched. A setting the cloud does not have stays absent, and the
rule that needs it fails naming it; nothing is filled in with a default here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from chaos.declared import DECLARED_ENVIRONMENT, DECLARED_RULE, declared_claims
from chaos.errors import AwsCallError, aws_call
from chaos.expectations import Verdict
from chaos.stack import Stack
from components import outputs as keys
from policy.invariants import CHECKS, dead_letter_arns
from policy.model import (
    ALARM,
    EVENT_TARGET,
    FUNCTION,
    IAM_POLICY,
    INVOKE_CONFIG,
    MAPPING,
    PERMISSION,
    QUEUE,
    ROLE_POLICY,
    SCALING_POLICY,
    SCALING_TARGET,
    STATE_MACHINE,
    SUBSCRIPTION,
    TABLE,
    TOPIC,
    USAGE_PLAN,
    Resource,
    arn_service,
    parse_json,
)

__all__ = ["VERDICT_PREFIX", "live_resources", "preflight", "verdict_name"]

logger = logging.getLogger(__name__)

VERDICT_PREFIX = "preflight: "
_DLQ_METRIC = {"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible"}
_NOT_FOUND = {"ResourceNotFoundException"}
_NO_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_FUNCTION_FIELDS = {"name", "arn", "timeout"}  # components.outputs.FunctionOutputs


def verdict_name(rule: str) -> str:
    return f"{VERDICT_PREFIX}{rule}"


def preflight(stack: Stack, pattern: str) -> list[Verdict]:
    """One verdict per policy rule over `pattern`'s live configuration, in CHECKS order, then
    `declared-settings`: each setting the pattern's outputs declare, as the cloud has it."""
    resources = live_resources(stack, pattern)
    verdicts = []
    for rule, (_, check) in CHECKS.items():
        problems = [f"{v.resource}: {v.message}" for v in check(resources)]
        verdicts.append(
            Verdict(
                name=verdict_name(rule),
                passed=not problems,
                problems=problems,
                figures={"pattern": pattern, "resources_read": len(resources)},
            )
        )
    claims = declared_claims(pattern, stack.get(pattern), resources)
    problems = [str(c) for c in claims if not c.holds]
    verdicts.append(
        Verdict(
            name=verdict_name(DECLARED_RULE),
            passed=not problems,
            problems=problems,
            figures={"pattern": pattern, "settings_checked": len(claims)},
        )
    )
    return verdicts


def live_resources(stack: Stack, pattern: str) -> list[Resource]:
    """`pattern`'s resources as the cloud has them now, as policy Resources."""
    return _Reader(stack).read(pattern, stack.get(pattern))


class _Reader:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.resources: dict[tuple[str, str], Resource] = {}
        self._queue_arns: set[str] = set()
        self._mapping_uuids: set[str] = set()
        self._roles: set[str] = set()
        self._mappings: list[dict[str, Any]] | None = None

    def read(self, pattern: str, outputs: Any) -> list[Resource]:
        found = _Identifiers()
        found.walk(outputs)
        for route_key, by_failure in (self.stack.outputs.get(keys.ROUTES) or {}).items():
            if route_key == pattern or route_key.startswith(f"{pattern}:"):
                found.walk_route(by_failure)
        for name in sorted(found.functions):
            self._function(name)
        for url in sorted(found.queue_urls):
            self._queue_by_url(url)
        for topic in sorted(found.topics):
            self._topic(topic)
            self._subscriptions(topic)
        for rule, bus in sorted(found.rules):
            self._targets(rule, bus)
        for uuid in sorted(found.mapping_uuids):
            self._mapping_by_uuid(uuid)
        for table in sorted(found.tables):
            self._table(table)
        for api_id in sorted(found.api_ids):
            self._usage_plans(api_id)
        for arn in sorted(found.state_machines):
            self._state_machine(arn)
        self._follow_references()
        self._alarms(sorted(found.alarms))
        return list(self.resources.values())

    # -- Lambda -------------------------------------------------------------------------------

    def _function(self, name: str) -> None:
        if (FUNCTION, name) in self.resources:
            return
        lam = self.stack.client("lambda")
        with aws_call(f"function {name}", "lambda:GetFunctionConfiguration"):
            conf = lam.get_function_configuration(FunctionName=name)
        props: dict[str, Any] = {
            "name": conf["FunctionName"],
            "arn": conf["FunctionArn"],
            "timeout": conf.get("Timeout"),
            "role": conf.get("Role"),
            "handler": conf.get("Handler"),
        }
        target = (conf.get("DeadLetterConfig") or {}).get("TargetArn")
        if target:
            props["deadLetterConfig"] = {"targetArn": target}
        variables = (conf.get("Environment") or {}).get("Variables") or {}
        # Only the settings a pattern declares in its outputs (never secrets or the rest).
        declared_env = {k: v for k, v in variables.items() if k in DECLARED_ENVIRONMENT}
        if declared_env:
            props["environment"] = {"variables": declared_env}
        self._add(FUNCTION, conf["FunctionName"], props)
        self._invoke_config(conf["FunctionName"])
        self._permissions(conf["FunctionName"], conf["FunctionArn"])
        self._role_policies(conf.get("Role"))
        for mapping in self._all_mappings():
            if mapping.get("FunctionArn") == conf["FunctionArn"]:
                self._add_mapping(mapping, conf["FunctionName"])

    def _invoke_config(self, function: str) -> None:
        lam = self.stack.client("lambda")
        conf = self._maybe(
            f"function {function}",
            "lambda:GetFunctionEventInvokeConfig",
            _NOT_FOUND,
            lambda: lam.get_function_event_invoke_config(FunctionName=function),
        )
        if conf is None:
            return
        props: dict[str, Any] = {"functionName": function}
        for key, prop in (
            ("MaximumRetryAttempts", "maximumRetryAttempts"),
            ("MaximumEventAgeInSeconds", "maximumEventAgeInSeconds"),
        ):
            if key in conf:
                props[prop] = conf[key]
        destinations = conf.get("DestinationConfig") or {}
        for key, prop in (("OnFailure", "onFailure"), ("OnSuccess", "onSuccess")):
            arn = (destinations.get(key) or {}).get("Destination")
            if arn:
                props.setdefault("destinationConfig", {})[prop] = {"destination": arn}
        self._add(INVOKE_CONFIG, f"{function} event invoke config", props)

    def _permissions(self, function: str, function_arn: str) -> None:
        lam = self.stack.client("lambda")
        answer = self._maybe(
            f"function {function}",
            "lambda:GetPolicy",
            _NOT_FOUND,
            lambda: lam.get_policy(FunctionName=function),
        )
        document = parse_json((answer or {}).get("Policy")) or {}
        for index, stmt in enumerate(document.get("Statement") or []):
            principal = stmt.get("Principal")
            service = principal.get("Service") if isinstance(principal, dict) else principal
            source = ((stmt.get("Condition") or {}).get("ArnLike") or {}).get("AWS:SourceArn")
            self._add(
                PERMISSION,
                f"{function} permission {stmt.get('Sid') or index}",
                {
                    "function": function_arn,
                    "principal": service,
                    "action": stmt.get("Action"),
                    "sourceArn": source,
                },
            )

    def _all_mappings(self) -> list[dict[str, Any]]:
        # Listed once, unfiltered: moto filters FunctionName by the string the mapping was
        # created with (the deploy passes an ARN), where AWS accepts a name or an ARN.
        if self._mappings is None:
            lam = self.stack.client("lambda")
            mappings: list[dict[str, Any]] = []
            with aws_call("event source mappings", "lambda:ListEventSourceMappings"):
                for page in lam.get_paginator("list_event_source_mappings").paginate():
                    mappings.extend(page.get("EventSourceMappings", []))
            self._mappings = mappings
        return self._mappings

    def _mapping_by_uuid(self, uuid: str) -> None:
        if uuid in self._mapping_uuids:
            return
        lam = self.stack.client("lambda")
        with aws_call(f"event source mapping {uuid}", "lambda:GetEventSourceMapping"):
            mapping = lam.get_event_source_mapping(UUID=uuid)
        function = mapping["FunctionArn"].split(":")[6]
        self._add_mapping(mapping, function)
        self._function(function)

    def _add_mapping(self, m: dict[str, Any], function: str) -> None:
        self._mapping_uuids.add(m["UUID"])
        source = m.get("EventSourceArn") or ""
        props: dict[str, Any] = {
            "uuid": m["UUID"],
            "eventSourceArn": source,
            "functionName": m["FunctionArn"],
            "functionArn": m["FunctionArn"],
            "state": m.get("State"),
        }
        for key, prop in (
            ("BatchSize", "batchSize"),
            ("FunctionResponseTypes", "functionResponseTypes"),
            ("BisectBatchOnFunctionError", "bisectBatchOnFunctionError"),
            ("MaximumRetryAttempts", "maximumRetryAttempts"),
            ("MaximumRecordAgeInSeconds", "maximumRecordAgeInSeconds"),
            ("StartingPosition", "startingPosition"),
        ):
            if m.get(key) is not None:
                props[prop] = m[key]
        on_failure = ((m.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if on_failure:
            props["destinationConfig"] = {"onFailure": {"destinationArn": on_failure}}
        concurrency = (m.get("ScalingConfig") or {}).get("MaximumConcurrency")
        if concurrency is not None:
            props["scalingConfig"] = {"maximumConcurrency": concurrency}
        # The resource part: "name" (SQS), "stream/<name>" (Kinesis), "table/<name>/stream/..."
        resource = source.split(":", 5)[-1].split("/")
        source_name = resource[1] if len(resource) > 1 else resource[0]
        name = f"mapping {m['UUID']} ({source_name} -> {function})"
        self._add(MAPPING, name, props)

    # -- IAM ----------------------------------------------------------------------------------

    def _role_policies(self, role_arn: str | None) -> None:
        if not role_arn:
            return
        role = role_arn.rsplit("/", 1)[-1]
        if role in self._roles:
            return
        self._roles.add(role)
        iam = self.stack.client("iam")
        with aws_call(f"role {role}", "iam:ListRolePolicies"):
            names = [
                n
                for page in iam.get_paginator("list_role_policies").paginate(RoleName=role)
                for n in page.get("PolicyNames", [])
            ]
        for name in names:
            with aws_call(f"role {role}", "iam:GetRolePolicy"):
                doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            self._add(ROLE_POLICY, f"role {role} policy {name}", {"role": role, "policy": doc})
        with aws_call(f"role {role}", "iam:ListAttachedRolePolicies"):
            attached = [
                p["PolicyArn"]
                for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role)
                for p in page.get("AttachedPolicies", [])
            ]
        for arn in attached:
            with aws_call(f"policy {arn}", "iam:GetPolicyVersion"):
                version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                doc = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
            self._add(
                IAM_POLICY, f"role {role} policy {arn}", {"arn": arn, "policy": doc["Document"]}
            )

    # -- SQS ----------------------------------------------------------------------------------

    def _queue_by_url(self, url: str) -> None:
        sqs = self.stack.client("sqs")
        with aws_call(f"queue {url}", "sqs:GetQueueAttributes"):
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self._add_queue(url, attrs)

    def _queue_by_arn(self, arn: str) -> None:
        if arn in self._queue_arns:
            return
        self._queue_arns.add(arn)  # a missing queue is looked up once
        _, _, _, _, account, name = arn.split(":", 5)
        sqs = self.stack.client("sqs")
        answer = self._maybe(
            f"queue {arn}",
            "sqs:GetQueueUrl",
            _NO_QUEUE,
            lambda: sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account),
        )
        if answer is None:
            # Left out: the rule that names this ARN (its DLQ has no queue) reports it.
            logger.warning("preflight: queue %s named by the stack does not exist", arn)
            return
        self._queue_by_url(answer["QueueUrl"])

    def _add_queue(self, url: str, attrs: dict[str, str]) -> None:
        arn = attrs["QueueArn"]
        self._queue_arns.add(arn)
        props: dict[str, Any] = {"name": arn.rsplit(":", 1)[-1], "arn": arn, "url": url}
        for key, prop in (
            ("VisibilityTimeout", "visibilityTimeoutSeconds"),
            ("MessageRetentionPeriod", "messageRetentionSeconds"),
        ):
            if key in attrs:
                props[prop] = int(attrs[key])
        if attrs.get("RedrivePolicy"):
            props["redrivePolicy"] = attrs["RedrivePolicy"]  # the JSON string, as SQS keeps it
        if attrs.get("FifoQueue") == "true":
            props["fifoQueue"] = True
        if attrs.get("Policy"):
            props["policy"] = attrs["Policy"]  # who may send (queue-topic-policy-scoped)
        self._add(QUEUE, props["name"], props)

    # -- SNS and EventBridge ------------------------------------------------------------------

    def _topic(self, topic: str) -> None:
        sns = self.stack.client("sns")
        with aws_call(f"topic {topic}", "sns:GetTopicAttributes"):
            attrs = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
        props: dict[str, Any] = {"arn": topic, "name": topic.rsplit(":", 1)[-1]}
        if attrs.get("Policy"):
            props["policy"] = attrs["Policy"]  # who may publish (queue-topic-policy-scoped)
        self._add(TOPIC, props["name"], props)

    def _subscriptions(self, topic: str) -> None:
        sns = self.stack.client("sns")
        with aws_call(f"topic {topic}", "sns:ListSubscriptionsByTopic"):
            subscriptions = [
                s
                for page in sns.get_paginator("list_subscriptions_by_topic").paginate(
                    TopicArn=topic
                )
                for s in page.get("Subscriptions", [])
            ]
        for sub in subscriptions:
            arn = sub["SubscriptionArn"]
            with aws_call(f"subscription {arn}", "sns:GetSubscriptionAttributes"):
                attrs = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
            props: dict[str, Any] = {
                "arn": arn,
                "topic": topic,
                "protocol": attrs.get("Protocol", sub.get("Protocol")),
                "endpoint": attrs.get("Endpoint", sub.get("Endpoint")),
            }
            for key, prop in (("RedrivePolicy", "redrivePolicy"), ("FilterPolicy", "filterPolicy")):
                if attrs.get(key):
                    props[prop] = attrs[key]
            self._add(SUBSCRIPTION, f"subscription {arn.rsplit(':', 1)[-1]}", props)

    def _targets(self, rule: str, bus: str | None) -> None:
        events = self.stack.client("events")
        kwargs = {"Rule": rule, **({"EventBusName": bus} if bus else {})}
        with aws_call(f"rule {rule}", "events:ListTargetsByRule"):
            targets = [
                t
                for page in events.get_paginator("list_targets_by_rule").paginate(**kwargs)
                for t in page.get("Targets", [])
            ]
        for target in targets:
            props: dict[str, Any] = {
                "rule": rule,
                "eventBusName": bus,
                "targetId": target["Id"],
                "arn": target["Arn"],
            }
            dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
            if dlq:
                props["deadLetterConfig"] = {"arn": dlq}
            retry = target.get("RetryPolicy")
            if retry is not None:
                props["retryPolicy"] = {
                    prop: retry[key]
                    for key, prop in (
                        ("MaximumRetryAttempts", "maximumRetryAttempts"),
                        ("MaximumEventAgeInSeconds", "maximumEventAgeInSeconds"),
                    )
                    if key in retry
                }
            self._add(EVENT_TARGET, f"rule {rule} target {target['Id']}", props)
            if arn_service(target["Arn"]) == "lambda":
                self._function(target["Arn"].split(":")[6])

    # -- DynamoDB, API Gateway, Step Functions -----------------------------------------------

    def _table(self, name: str) -> None:
        with aws_call(f"table {name}", "dynamodb:DescribeTable"):
            table = self.stack.client("dynamodb").describe_table(TableName=name)["Table"]
        props: dict[str, Any] = {"name": name, "arn": table.get("TableArn")}
        # DescribeTable leaves BillingModeSummary out for a table that was always PROVISIONED.
        mode = (table.get("BillingModeSummary") or {}).get("BillingMode")
        props["billingMode"] = mode or "PROVISIONED"
        throughput = table.get("ProvisionedThroughput") or {}
        for key, prop in (
            ("ReadCapacityUnits", "readCapacity"),
            ("WriteCapacityUnits", "writeCapacity"),
        ):
            if throughput.get(key):
                props[prop] = throughput[key]
        self._add(TABLE, name, props)
        scaling = self.stack.client("application-autoscaling")
        resource = {"ServiceNamespace": "dynamodb", "ResourceIds": [f"table/{name}"]}
        with aws_call(f"table {name}", "application-autoscaling:DescribeScalableTargets"):
            targets = scaling.describe_scalable_targets(**resource)["ScalableTargets"]
        with aws_call(f"table {name}", "application-autoscaling:DescribeScalingPolicies"):
            policies = scaling.describe_scaling_policies(
                ServiceNamespace="dynamodb", ResourceId=f"table/{name}"
            )["ScalingPolicies"]
        for kind, found, label in (
            (SCALING_TARGET, targets, "scalable target"),
            (SCALING_POLICY, policies, "scaling policy"),
        ):
            for item in found:
                self._add(
                    kind,
                    f"{label} {item['ResourceId']} {item['ScalableDimension']}"
                    + (f" {item['PolicyName']}" if "PolicyName" in item else ""),
                    {
                        "serviceNamespace": item["ServiceNamespace"],
                        "resourceId": item["ResourceId"],
                        "scalableDimension": item["ScalableDimension"],
                    },
                )

    def _usage_plans(self, api_id: str) -> None:
        gateway = self.stack.client("apigateway")
        with aws_call(f"api {api_id}", "apigateway:GetUsagePlans"):
            plans = [
                p
                for page in gateway.get_paginator("get_usage_plans").paginate()
                for p in page.get("items", [])
            ]
        for plan in plans:
            stages = plan.get("apiStages") or []
            if not any(stage.get("apiId") == api_id for stage in stages):
                continue
            props: dict[str, Any] = {"id": plan["id"], "name": plan.get("name"), "apiId": api_id}
            throttle = plan.get("throttle")
            if throttle:
                props["throttleSettings"] = {
                    prop: throttle[key]
                    for key, prop in (("rateLimit", "rateLimit"), ("burstLimit", "burstLimit"))
                    if key in throttle
                }
            self._add(USAGE_PLAN, f"usage plan {plan['id']}", props)

    def _state_machine(self, arn: str) -> None:
        with aws_call(f"state machine {arn}", "states:DescribeStateMachine"):
            machine = self.stack.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
        self._add(STATE_MACHINE, arn, {"arn": arn, "definition": machine.get("definition")})

    # -- references and alarms ----------------------------------------------------------------

    def _follow_references(self) -> None:
        """Read every queue a setting names until no new one appears (a DLQ can have a DLQ)."""
        while True:
            named: set[Any] = set(dead_letter_arns(list(self.resources.values())))
            for r in list(self.resources.values()):
                if r.type == MAPPING:
                    named.add(r.props.get("eventSourceArn"))
                elif r.type == EVENT_TARGET:
                    named.add(r.props.get("arn"))
                elif r.type == SUBSCRIPTION:
                    named.add(r.props.get("endpoint"))
            new = {a for a in named if arn_service(a) == "sqs"} - self._queue_arns
            if not new:
                return
            for arn in sorted(new):
                self._queue_by_arn(arn)

    def _alarms(self, names: list[str]) -> None:
        cw = self.stack.client("cloudwatch")
        for start in range(0, len(names), 100):  # DescribeAlarms takes up to 100 names
            chunk = names[start : start + 100]
            with aws_call(f"alarms {', '.join(chunk)}", "cloudwatch:DescribeAlarms"):
                answer = cw.describe_alarms(AlarmNames=chunk)
            for alarm in answer.get("MetricAlarms", []):
                self._add_alarm(alarm)
        resources = list(self.resources.values())
        queues = {r.props.get("arn"): r for r in resources if r.type == QUEUE}
        for arn in sorted(dead_letter_arns(resources)):
            queue = queues.get(arn)
            if queue is None:
                continue
            dimensions = [{"Name": "QueueName", "Value": queue.props["name"]}]
            with aws_call(f"queue {queue.props['name']}", "cloudwatch:DescribeAlarmsForMetric"):
                answer = cw.describe_alarms_for_metric(**_DLQ_METRIC, Dimensions=dimensions)
            for alarm in answer.get("MetricAlarms", []):
                # AWS matches the dimensions exactly; moto ignores them: keep the exact ones.
                if _dimensions(alarm) == {"QueueName": queue.props["name"]}:
                    self._add_alarm(alarm)

    def _add_alarm(self, alarm: dict[str, Any]) -> None:
        props: dict[str, Any] = {
            "name": alarm["AlarmName"],
            "arn": alarm.get("AlarmArn"),
            "namespace": alarm.get("Namespace"),
            "metricName": alarm.get("MetricName"),
            "dimensions": _dimensions(alarm),
            "comparisonOperator": alarm.get("ComparisonOperator"),
            "threshold": alarm.get("Threshold"),
            "alarmActions": list(alarm.get("AlarmActions") or []),
            "okActions": list(alarm.get("OKActions") or []),
            "actionsEnabled": alarm.get("ActionsEnabled"),
            "evaluationPeriods": alarm.get("EvaluationPeriods"),
            "datapointsToAlarm": alarm.get("DatapointsToAlarm"),
            "period": alarm.get("Period"),
            "treatMissingData": alarm.get("TreatMissingData"),
        }
        if alarm.get("Statistic"):
            props["statistic"] = alarm["Statistic"]
        if alarm.get("ExtendedStatistic"):
            props["extendedStatistic"] = alarm["ExtendedStatistic"]
        self._add(ALARM, alarm["AlarmName"], props)

    # -- helpers ------------------------------------------------------------------------------

    def _add(self, type_: str, name: str, props: dict[str, Any]) -> None:
        self.resources[(type_, name)] = Resource(type_, name, props)

    @staticmethod
    def _maybe(resource: str, action: str, absent: set[str], call: Any) -> Any:
        """The call's answer, or None when the cloud says the thing does not exist."""
        try:
            with aws_call(resource, action):
                return call()
        except AwsCallError as exc:
            if exc.code in absent:
                return None
            raise


def _dimensions(alarm: dict[str, Any]) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}


class _Identifiers:
    """What a pattern's outputs name, by the shapes of components/outputs.py."""

    def __init__(self) -> None:
        self.functions: set[str] = set()
        self.queue_urls: set[str] = set()
        self.topics: set[str] = set()
        self.rules: set[tuple[str, str | None]] = set()
        self.mapping_uuids: set[str] = set()
        self.alarms: set[str] = set()
        self.tables: set[str] = set()
        self.api_ids: set[str] = set()
        self.state_machines: set[str] = set()

    def walk(self, node: Any) -> None:
        if not isinstance(node, dict):
            return
        if _FUNCTION_FIELDS <= set(node) and isinstance(node.get("name"), str):
            self.functions.add(node["name"])
        if isinstance(node.get("rule_name"), str):
            self.rules.add((node["rule_name"], node.get("event_bus_name")))
        for key, value in node.items():
            if key == "alarms" and isinstance(value, dict):
                self.alarms.update(v for v in value.values() if isinstance(v, str))
            elif key == "sources" and isinstance(value, dict):  # DlqRedriver: DLQ url -> source
                self.queue_urls.update(_strings([*value, *value.values()]))
            elif _is_queue_url_key(key) and isinstance(value, str) and value:
                self.queue_urls.add(value)
            elif key == "topic_arn" and isinstance(value, str):
                self.topics.add(value)
            elif key == "mapping_uuid" and isinstance(value, str):
                self.mapping_uuids.add(value)
            elif key == "table_name" and isinstance(value, str) and value:
                self.tables.add(value)
            elif key == "api_id" and isinstance(value, str) and value:
                self.api_ids.add(value)
            elif key == "state_machine_arn" and isinstance(value, str) and value:
                self.state_machines.add(value)
            elif isinstance(value, dict):
                self.walk(value)

    def walk_route(self, by_failure: Any) -> None:
        for route in (by_failure or {}).values():
            for target in [route, *(route.get("also") or [])]:
                if target.get("queue_url"):
                    self.queue_urls.add(target["queue_url"])


def _is_queue_url_key(key: str) -> bool:
    # queue_url, dlq_url, subscription_dlq_url, on_failure_queue_url, target_dlq_url, ...;
    # not api_url or the SlowApi's url.
    return key == "queue_url" or key.endswith("_queue_url") or key.endswith("dlq_url")


def _strings(values: Iterable[Any]) -> Iterator[str]:
    return (v for v in values if isinstance(v, str) and v)
