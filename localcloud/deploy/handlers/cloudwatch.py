"""CloudWatch MetricAlarm and Logs LogGroup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Context, Handler, Planned, ignore_missing, num, pick

_ALARM_FIELDS = {
    "namespace": "Namespace",
    "metricName": "MetricName",
    "statistic": "Statistic",
    "extendedStatistic": "ExtendedStatistic",
    "period": "Period",
    "evaluationPeriods": "EvaluationPeriods",
    "datapointsToAlarm": "DatapointsToAlarm",
    "threshold": "Threshold",
    "thresholdMetricId": "ThresholdMetricId",
    "comparisonOperator": "ComparisonOperator",
    "treatMissingData": "TreatMissingData",
    "alarmActions": "AlarmActions",
    "okActions": "OKActions",
    "insufficientDataActions": "InsufficientDataActions",
    "actionsEnabled": "ActionsEnabled",
    "alarmDescription": "AlarmDescription",
    "unit": "Unit",
    "evaluateLowSampleCountPercentiles": "EvaluateLowSampleCountPercentile",
}


def _metric_query(q: Mapping[str, Any]) -> dict[str, Any]:
    out = pick(
        q,
        {
            "id": "Id",
            "expression": "Expression",
            "label": "Label",
            "returnData": "ReturnData",
            "period": "Period",
            "accountId": "AccountId",
        },
    )
    metric = q.get("metric")
    if metric:
        out["MetricStat"] = {
            "Metric": {
                "Namespace": metric["namespace"],
                "MetricName": metric["metricName"],
                "Dimensions": [
                    {"Name": k, "Value": v} for k, v in (metric.get("dimensions") or {}).items()
                ],
            },
            "Period": num(metric["period"]),
            "Stat": metric["stat"],
            **pick(metric, {"unit": "Unit"}),
        }
    return out


class MetricAlarm(Handler):
    typ = "aws:cloudwatch/metricAlarm:MetricAlarm"
    applies = frozenset(_ALARM_FIELDS) | {"name", "dimensions", "metricQueries"}
    replace_on = frozenset({"name"})
    name_input = "name"
    name_max = 255

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        return res.physical, self._put(ctx, res)

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        # PutMetricAlarm overwrites the whole alarm definition.
        return self._put(ctx, res)

    @staticmethod
    def _put(ctx: Context, res: Planned) -> dict[str, Any]:
        inp = res.inputs
        kwargs = pick(inp, _ALARM_FIELDS)
        for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            if key in kwargs:
                kwargs[key] = list(kwargs[key])
        if inp.get("dimensions"):
            kwargs["Dimensions"] = [
                {"Name": k, "Value": str(v)} for k, v in inp["dimensions"].items()
            ]
        if inp.get("metricQueries"):
            kwargs["Metrics"] = [_metric_query(q) for q in inp["metricQueries"]]
        cw = ctx.client("cloudwatch")
        cw.put_metric_alarm(AlarmName=res.physical, **kwargs)
        alarm = cw.describe_alarms(AlarmNames=[res.physical])["MetricAlarms"][0]
        return {"arn": alarm["AlarmArn"], "name": res.physical}

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(lambda: ctx.client("cloudwatch").delete_alarms(AlarmNames=[rid]))


class LogGroup(Handler):
    typ = "aws:cloudwatch/logGroup:LogGroup"
    applies = frozenset(
        {"name", "namePrefix", "retentionInDays", "kmsKeyId", "skipDestroy", "logGroupClass"}
    )
    replace_on = frozenset({"name", "namePrefix", "logGroupClass"})
    name_input = "name"
    name_max = 512
    already_exists = frozenset({"ResourceAlreadyExistsException"})

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        kwargs = pick(res.inputs, {"kmsKeyId": "kmsKeyId", "logGroupClass": "logGroupClass"})
        logs = ctx.client("logs")
        logs.create_log_group(logGroupName=res.physical, **kwargs)
        return self.adopt(ctx, res)

    def adopt(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        self._retention(ctx, res.physical, res.inputs)
        return res.physical, {
            "name": res.physical,
            "arn": f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{res.physical}",
            "skipDestroy": bool(res.inputs.get("skipDestroy", False)),
        }

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        self._retention(ctx, rid, res.inputs)
        return {**old, "skipDestroy": bool(res.inputs.get("skipDestroy", False))}

    @staticmethod
    def _retention(ctx: Context, name: str, inp: Mapping[str, Any]) -> None:
        logs = ctx.client("logs")
        days = num(inp.get("retentionInDays") or 0)
        if days:
            logs.put_retention_policy(logGroupName=name, retentionInDays=days)
        else:
            ignore_missing(lambda: logs.delete_retention_policy(logGroupName=name))

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        if outputs.get("skipDestroy"):
            return
        ignore_missing(lambda: ctx.client("logs").delete_log_group(logGroupName=rid))
