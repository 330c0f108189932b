"""Every fan-out consumer is failed by some run: experiments that fault "{failing}" run once
per subscriber of the deployed stack, each instance named for its subscriber."""

from __future__ import annotations

from chaos.experiments import CATALOG, per_subscriber
from chaos.experiments.model import mentions_failing


def test_each_fan_out_experiment_runs_once_per_subscriber():
    templates = [e for e in CATALOG if mentions_failing(e)]
    assert {e.pattern for e in templates} == {"fan_out"} and len(templates) >= 4
    expanded = per_subscriber(CATALOG, ["refunds", "orders"])
    assert len(expanded) == len(CATALOG) + len(templates)
    for template in templates:
        instances = [e for e in expanded if e.template == template.name]
        assert [(e.name, e.failing) for e in instances] == [
            (f"{template.name}[orders]", "orders"),
            (f"{template.name}[refunds]", "refunds"),
        ]
    # The rest are the catalog's own objects, unchanged and in order.
    others = [e for e in expanded if not e.failing]
    assert others == [e for e in CATALOG if not mentions_failing(e)]


def test_an_instance_is_not_expanded_again_and_no_subscribers_leaves_the_templates():
    once = per_subscriber(CATALOG, ["orders"])
    assert per_subscriber(once, ["orders", "refunds"]) == once
    assert per_subscriber(CATALOG, []) == list(CATALOG)


def test_a_mutant_is_judged_by_every_instance_of_its_covering_experiments():
    # The full mutation run once judged the broadened fan-out filter by no result at all
    # ("missed": the results were named "name[sub]", the covering experiments "name").
    from app.mutate.runner import _results_of
    from chaos.experiments import by_name

    fan = by_name("fanout-one-consumer-failing")
    results = {
        "fanout-one-consumer-failing[orders]": {"name": "o"},
        "fanout-one-consumer-failing[refunds]": {"name": "r"},
        "sqs-poison-to-dlq": {"name": "s"},
    }
    assert [r["name"] for r in _results_of(results, [fan])] == ["o", "r"]
    assert _results_of(results, [by_name("sqs-poison-to-dlq")]) == [{"name": "s"}]


def test_a_stack_runs_the_experiments_of_its_instances_only():
    from chaos.session import for_stack
    from chaos.stack import Stack

    bare = Stack(name="s", outputs={}, source="test")
    assert for_stack(bare, CATALOG) == []  # no instance of any component type
    fan = Stack(
        name="s",
        outputs={"fan_out": {"subscribers": {"refunds": {}, "orders": {}}}},
        source="test",
    )
    made = for_stack(fan, CATALOG)
    names = [e.name for e in made]
    assert "fanout-one-consumer-failing[fan-out/orders]" in names
    assert "fanout-one-consumer-failing[fan-out]" not in names
    assert {e.component_type for e in made} == {"fan_out"}
