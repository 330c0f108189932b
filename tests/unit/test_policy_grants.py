"""The policy pack's grant rules: no resource wildcard a pattern does not need, no AWS managed
admin or full-access policy, role grants only from the components, no queue or topic open to
Principal '*' without a source condition.

Each rule fails on its violating input and passes on the nearest allowed one. Inputs come from
the real components (their Args or one recorded property changed), or are resources added
beside them at the program's top level, as a user would.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pulumi
import pulumi_aws as aws
import pytest

from components.queue_worker import QueueWorker
from policy.invariants import check_all, resources_from
from policy.model import STACK_TYPE, Resource, parent_type
from policy.pack import build_policies
from tests.unit.components.comp_helpers import build, common, function
from tests.unit.test_policy import edited, graph, violations_of

ACCOUNT = "123456789012"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
QUEUE = "aws:sqs/queue:Queue"
TOPIC = "aws:sns/topic:Topic"
IAM_POLICY = "aws:iam/policy:Policy"
LEDGER_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ledger"
IN_COMPONENT = "urn:pulumi:test::project::failmodes:index:QueueWorker${type}::{name}"


def queue_worker(statements=()):
    return lambda: QueueWorker(
        "qw",
        {
            "function": function("queue_worker", 5, extra_policy_statements=list(statements)),
            **common("qw"),
        },
    )


def allow(actions, resources, **extra):
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def document(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture(scope="module")
def qw():
    return graph(queue_worker())


@pytest.fixture(scope="module")
def program(program_run):
    return resources_from(program_run("local").mocks)


def props_of(resources, name):
    (found,) = [r for r in resources if r.name == name]
    return found.props


# --- iam-no-wildcards: resource wildcards ----------------------------------------------------


@pytest.mark.parametrize(
    ("actions", "resource"),
    [
        (["dynamodb:GetItem"], f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/*"),
        (["lambda:InvokeFunction"], f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:*"),
        (["iam:PassRole"], f"arn:aws:iam::{ACCOUNT}:role/*"),
        (["sqs:SendMessage"], f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders-*"),
        (["sqs:SendMessage"], f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders-?"),
        (["dynamodb:GetRecords"], f"{LEDGER_ARN}/stream/*"),  # no component reads a table stream
        (["logs:PutLogEvents"], f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:*"),
        (["logs:PutLogEvents"], f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/*:*"),
        # the log-stream exception is for the stream actions only
        (["logs:DeleteLogGroup"], f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/f:*"),
    ],
)
def test_a_resource_wildcard_a_pattern_does_not_need_fails(actions, resource):
    # GIVEN the worker's function with one extra statement on a wildcard resource
    mocks, _ = build(queue_worker([allow(actions, [resource])]))
    # WHEN checked THEN its access policy is named, with the resource and what is allowed
    (v,) = violations_of(mocks, "iam-no-wildcards")
    assert v.resource == "qw-worker-access"
    assert v.message.startswith(f"wildcard resource {resource!r} for {actions}: name each")
    assert "log-group:/aws/lambda/<function>:*" in v.message


def test_the_same_statements_on_named_resources_pass():
    named = [
        allow(["dynamodb:GetItem"], [LEDGER_ARN]),
        allow(["lambda:InvokeFunction"], [f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f"]),
        allow(["sqs:SendMessage"], [f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders-1"]),
        allow(["xray:PutTraceSegments"], "*"),  # no resource-level permissions: '*' it is
    ]
    assert check_all(build(queue_worker(named))[0]) == []


def test_log_streams_of_another_functions_group_fail(program):
    # GIVEN the queue worker's logs policy naming the async function's log group instead
    logs = props_of(program, "queue-worker-worker-logs")
    other = props_of(program, "async-function-worker")["name"]
    own = props_of(program, "queue-worker-worker")["name"]
    broken = edited(
        program, ROLE_POLICY, "queue-worker-worker-logs", policy=logs["policy"].replace(own, other)
    )
    # WHEN checked THEN the policy is named with both functions (CreateLogGroup names no
    # wildcard, so only the streams statement speaks)
    (v,) = violations_of(broken, "iam-no-wildcards")
    assert v.resource == "queue-worker-worker-logs"
    assert f"log streams of /aws/lambda/{other}, not of its role's function ({own})" in v.message


def test_wildcards_in_a_roles_inline_policies_count_too(qw):
    inline = [{"name": "extra", "policy": document(allow(["sqs:SendMessage"], ["*"]))}]
    (v,) = violations_of(
        edited(qw, ROLE, "qw-worker-role", inlinePolicies=inline), "iam-no-wildcards"
    )
    assert v.resource == "qw-worker-role" and "wildcard resource '*'" in v.message


# --- iam-no-admin-policies -------------------------------------------------------------------


def attachment(policy_arn, role="qw-worker-role"):
    """An attachment inside the worker's component (so only the managed-policy rule judges)."""
    urn = IN_COMPONENT.format(type=ATTACHMENT, name="qw-extra")
    return Resource(ATTACHMENT, "qw-extra", {"role": role, "policyArn": policy_arn}, urn)


@pytest.mark.parametrize(
    "policy",
    [
        "arn:aws:iam::aws:policy/AdministratorAccess",
        "arn:aws:iam::aws:policy/PowerUserAccess",
        "arn:aws:iam::aws:policy/IAMFullAccess",
        "arn:aws:iam::aws:policy/AmazonSQSFullAccess",
        "arn:aws:iam::aws:policy/AWSLambda_FullAccess",
        "arn:aws:iam::aws:policy/job-function/SystemAdministrator",
        "arn:aws-us-gov:iam::aws:policy/AdministratorAccess",
    ],
)
def test_an_aws_managed_admin_or_full_access_policy_on_a_role_fails(qw, policy):
    (v,) = violations_of([*qw, attachment(policy)], "iam-no-admin-policies")
    assert v.resource == "qw-extra"
    assert v.message.startswith(f"attaches AWS managed policy {policy} to role qw-worker-role")


@pytest.mark.parametrize(
    "policy",
    [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        # a customer managed policy of that name: its statements are judged, not its name
        f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess",
    ],
)
def test_a_narrower_managed_policy_passes(qw, policy):
    assert check_all([*qw, attachment(policy)]) == []


def test_managed_policy_arns_of_a_role_and_a_live_attachment_count_too(qw):
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    broken = edited(qw, ROLE, "qw-worker-role", managedPolicyArns=[admin])
    (v,) = violations_of(broken, "iam-no-admin-policies")
    assert v.resource == "qw-worker-role"
    # chaos.preflight reads an attached policy back as an IAM policy with its ARN
    live = (IAM_POLICY, f"role r policy {admin}", {"arn": admin, "policy": document()})
    (v,) = violations_of([live], "iam-no-admin-policies")
    assert "to a role: it grants administrator access" in v.message


# --- iam-grants-in-components ----------------------------------------------------------------


def with_stray(resource):
    """The worker, and beside it at the program's top level whatever `resource(worker)` adds."""

    def program():
        worker = QueueWorker("qw", {"function": function("queue_worker", 5), **common("qw")})
        resource(worker)
        return worker

    return build(program)[0]


def exact_statement(worker):
    return pulumi.Output.json_dumps(
        {"Version": "2012-10-17", "Statement": [allow(["dynamodb:GetItem"], [LEDGER_ARN])]}
    )


def test_a_role_policy_at_the_programs_top_level_fails():
    # GIVEN a hotfix RolePolicy on the worker's role beside the component, no wildcard in it
    mocks = with_stray(
        lambda w: aws.iam.RolePolicy("hotfix", role=w.worker.role.id, policy=exact_statement(w))
    )
    # WHEN checked THEN it is named, as outside the components, with the way in
    (v,) = violations_of(mocks, "iam-grants-in-components")
    assert v.resource == "hotfix"
    assert v.message.startswith("an inline policy on role qw-worker-role")
    assert "its parent is the stack itself" in v.message
    assert "extra_policy_statements" in v.message


def test_the_same_statement_through_the_component_passes():
    graph(queue_worker([allow(["dynamodb:GetItem"], [LEDGER_ARN])]))


def test_a_role_policy_in_a_component_of_ones_own_fails():
    def stray(worker):
        parent = pulumi.ComponentResource("acme:index:Hotfix", "acme")
        aws.iam.RolePolicy(
            "hotfix",
            role=worker.worker.role.id,
            policy=exact_statement(worker),
            opts=pulumi.ResourceOptions(parent=parent),
        )

    (v,) = violations_of(with_stray(stray), "iam-grants-in-components")
    assert "its parent is acme:index:Hotfix" in v.message


def test_attachments_and_inline_policies_of_a_top_level_role_fail():
    # GIVEN a narrow AWS managed policy attached at the top level, and a role of its own with
    # an inline policy: both grant outside the components
    def strays(worker):
        aws.iam.RolePolicyAttachment(
            "basic",
            role=worker.worker.role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        )
        aws.iam.Role(
            "own",
            assume_role_policy=document(),
            inline_policies=[
                aws.iam.RoleInlinePolicyArgs(name="x", policy=exact_statement(worker))
            ],
        )

    found = violations_of(with_stray(strays), "iam-grants-in-components")
    assert sorted(v.resource for v in found) == ["basic", "own"]


def test_the_leads_probe_an_administrator_attachment_at_the_top_level_breaks_two_rules():
    mocks = with_stray(
        lambda w: aws.iam.RolePolicyAttachment(
            "admin",
            role=w.worker.role.name,
            policy_arn="arn:aws:iam::aws:policy/AdministratorAccess",
        )
    )
    assert sorted((v.policy, v.resource) for v in check_all(mocks)) == [
        ("iam-grants-in-components", "admin"),
        ("iam-no-admin-policies", "admin"),
    ]


def test_where_a_resource_sits_is_not_judged_when_unknown():
    # The configuration read back from a cloud (chaos.preflight) has no URN.
    stray = (ROLE_POLICY, "role r policy hotfix", {"role": "r", "policy": document()})
    assert check_all([stray]) == []


@pytest.mark.parametrize(
    ("urn", "parent"),
    [
        # the engine leaves the stack out of its children's qualified types ...
        (f"urn:pulumi:dev::failmodes::{ROLE_POLICY}::hotfix", STACK_TYPE),
        # ... and qualifies a nested child with all of its ancestors' types
        (
            "urn:pulumi:dev::failmodes::failmodes:index:FanOut$failmodes:index:QueueWorker"
            f"${ROLE_POLICY}::fan-out-orders-worker-access",
            "failmodes:index:QueueWorker",
        ),
        (f"urn:pulumi:dev::failmodes::pulumi:pulumi:Stack${ROLE_POLICY}::x", STACK_TYPE),  # mocks
        (None, None),
        ("qw-worker-access", None),
    ],
)
def test_a_parent_type_is_read_from_the_urn(urn, parent):
    assert parent_type(urn) == parent


def test_the_pulumi_pack_reads_the_urn_of_each_resource():
    # GIVEN a top-level RolePolicy as `pulumi preview` hands it to the pack (an engine URN)
    urn = f"urn:pulumi:dev::failmodes::{ROLE_POLICY}::hotfix"
    resource = SimpleNamespace(
        resource_type=ROLE_POLICY, name="hotfix", props={"role": "r", "policy": document()}, urn=urn
    )
    (policy,) = [p for p in build_policies() if p.name == "iam-grants-in-components"]
    reported = []
    # WHEN the policy validates it THEN it reports it with its URN
    policy.validate(SimpleNamespace(resources=[resource]), lambda m, u=None: reported.append(u))
    assert reported == [urn]


# --- queue-topic-policy-scoped ---------------------------------------------------------------


def opened(program, name, **statement_changes):
    """The program with one queue policy's statement changed (keys set to None are removed)."""
    policy = json.loads(props_of(program, name)["policy"])
    (stmt,) = policy["Statement"]
    stmt.update(statement_changes)
    policy["Statement"] = [{k: v for k, v in stmt.items() if v is not None}]
    return edited(program, QUEUE_POLICY, name, policy=json.dumps(policy))


SOURCE = {"ArnEquals": {"aws:SourceArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:orders"}}


@pytest.mark.parametrize(
    "change",
    [
        {"Principal": "*", "Condition": None},
        {"Principal": {"AWS": "*"}, "Condition": None},
        {"Principal": {"AWS": ["*"]}, "Condition": None},
        {
            "Principal": None,
            "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Condition": None,
        },
        # conditions that name a source key yet let any source in
        {"Principal": "*", "Condition": {"Null": {"aws:SourceArn": "false"}}},
        {"Principal": "*", "Condition": {"ArnNotEquals": {"aws:SourceArn": "arn:aws:sns:x"}}},
        {"Principal": "*", "Condition": {"ArnEqualsIfExists": SOURCE["ArnEquals"]}},
        {"Principal": "*", "Condition": {"ForAllValues:ArnEquals": SOURCE["ArnEquals"]}},
        {"Principal": "*", "Condition": {"ArnLike": {"aws:SourceArn": "*"}}},
        {"Principal": "*", "Condition": {"ArnLike": {"aws:SourceArn": ["arn:aws:sns:x", "*"]}}},
        {"Principal": "*", "Condition": {"StringEquals": {"aws:userAgent": "sns"}}},
    ],
)
def test_a_queue_policy_open_to_anyone_without_a_source_condition_fails(program, change):
    # GIVEN the fan-out queue's policy opened to any principal
    broken = opened(program, "fan-out-orders-queue-policy", **change)
    # WHEN checked THEN the queue policy is named with what is allowed
    (v,) = violations_of(broken, "queue-topic-policy-scoped")
    assert v.resource == "fan-out-orders-queue-policy"
    assert v.message.startswith("queue policy statement Allow0 allows anyone (")
    assert "aws:SourceArn / aws:SourceAccount / aws:SourceOwner / aws:PrincipalOrgID" in v.message


@pytest.mark.parametrize(
    "condition",
    [
        SOURCE,
        {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        {"StringEquals": {"AWS:SourceOwner": ACCOUNT}},  # AWS's default topic policy's spelling
        {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}},
        {"ArnLike": {"aws:SourceArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:orders-*"}},
    ],
)
def test_principal_anyone_scoped_by_a_source_condition_passes(program, condition):
    assert (
        check_all(
            opened(program, "fan-out-orders-queue-policy", Principal="*", Condition=condition)
        )
        == []
    )


def test_a_service_principal_without_a_condition_is_not_this_rules_business(program):
    # (a service principal is not "anyone"; the confused deputy is the components' own guard)
    assert check_all(opened(program, "fan-out-orders-queue-policy", Condition=None)) == []


@pytest.mark.parametrize(
    ("type_", "name"), [(QUEUE, "fan-out-orders-queue"), (TOPIC, "fan-out-topic")]
)
def test_a_queue_or_topics_own_policy_property_counts_too(program, type_, name):
    open_ = document(allow("sqs:SendMessage", "*", Principal="*", Sid="Open"))
    (v,) = violations_of(edited(program, type_, name, policy=open_), "queue-topic-policy-scoped")
    kind = "queue" if type_ == QUEUE else "topic"
    assert v.resource == name and v.message.startswith(f"{kind} policy statement Open allows")
