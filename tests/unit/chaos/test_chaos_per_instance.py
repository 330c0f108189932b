"""Experiments are templates per component type, made once per deployed instance: a second
QueueWorker on the stack gets every queue-worker experiment, aimed at its own resources."""

from __future__ import annotations

import pytest

from chaos.experiments import CATALOG, by_name, per_instance, select
from chaos.experiments.model import FromOutput, Inject, Send
from chaos.session import for_stack, stack_instances
from chaos.stack import Stack

INSTANCES = {
    "queue_worker": {"type": "queue_worker", "name": "queue-worker"},
    "payments": {"type": "queue_worker", "name": "payments"},
    "dlq_redriver": {"type": "dlq_redriver", "name": "dlq-redriver"},
}


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _strings(v)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            yield from _strings(getattr(value, name))


def test_every_template_of_a_type_is_made_for_each_of_its_instances():
    made = per_instance(CATALOG, INSTANCES)
    worker_templates = [e for e in CATALOG if e.pattern == "queue_worker"]
    for key, name in (("queue_worker", "queue-worker"), ("payments", "payments")):
        mine = [e for e in made if e.instance == name]
        assert [e.template for e in mine] == [e.name for e in worker_templates]
        for exp in mine:
            assert exp.name == f"{exp.template}[{name}]" and exp.pattern == key
            assert exp.component_type == "queue_worker" and exp.lock == key
    # Types with no instance on the stack make none (the redriver has no template of its own:
    # each queue worker's redrive experiment invokes it).
    assert {e.component_type for e in made} == {"queue_worker"}


def test_an_instance_experiment_aims_at_its_own_outputs_and_nothing_else():
    exp = next(
        e for e in per_instance(CATALOG, INSTANCES) if e.name == "sqs-poison-to-dlq[payments]"
    )
    paths = [s for s in _strings((exp.method, exp.expect, exp.budget, exp.guards)) if "." in s]
    assert paths and all(p.startswith(("payments.", "@payments.")) for p in paths), paths
    # The template, for contrast, aims at the type's key.
    template = by_name("sqs-poison-to-dlq")
    send = next(s for s in template.method if isinstance(s, Send))
    assert send.target == "queue_worker.queue_url"
    assert next(s for s in exp.method if isinstance(s, Send)).target == "payments.queue_url"


def test_nested_paths_are_rewritten_too():
    boundary = next(
        e
        for e in per_instance(CATALOG, INSTANCES)
        if e.name == "sqs-attempts-below-boundary[payments]"
    )
    inject = next(s for s in boundary.method if isinstance(s, Inject))
    settings = [v for v in inject.faults.values() if isinstance(v, FromOutput)]
    assert settings and all(v.path.startswith("payments.") for v in settings)


def test_paths_into_another_component_type_are_left_to_its_first_instance():
    # Each queue worker's redrive experiment drains its own DLQ with the one redriver.
    redrive = next(
        e
        for e in per_instance(CATALOG, INSTANCES)
        if e.name == "dlq-redrive-brings-all-home[payments]"
    )
    strings = list(_strings(redrive.method))
    assert "dlq_redriver.function.name" in strings and "@payments.dlq_url" in strings
    assert not any(s.lstrip("@").startswith("queue_worker.") for s in strings)


def test_a_name_selects_every_instance_or_one():
    made = per_instance(CATALOG, INSTANCES)
    both = select(made, ["sqs-poison-to-dlq"])
    assert [e.name for e in both] == [
        "sqs-poison-to-dlq[queue-worker]",
        "sqs-poison-to-dlq[payments]",
    ]
    assert [e.name for e in select(made, ["sqs-poison-to-dlq[payments]"])] == [
        "sqs-poison-to-dlq[payments]"
    ]
    with pytest.raises(KeyError, match=r"no experiment 'sqs-poison-to-dlq\[nope\]'.*payments"):
        select(made, ["sqs-poison-to-dlq[nope]"])
    with pytest.raises(KeyError, match="unknown experiment"):
        by_name("no-such-thing")


def test_a_stack_from_before_the_instances_output_has_one_instance_per_type():
    old = Stack(name="s", outputs={"queue_worker": {"queue_url": "u"}, "stack": "s"}, source="t")
    assert stack_instances(old) == {
        "queue_worker": {"type": "queue_worker", "name": "queue-worker"}
    }
    names = {e.name for e in for_stack(old, CATALOG)}
    assert "sqs-poison-to-dlq[queue-worker]" in names
    new = Stack(name="s", outputs={"instances": INSTANCES}, source="t")
    assert stack_instances(new) == INSTANCES


def test_an_experiment_that_needs_a_type_the_stack_lacks_is_not_made():
    # A program with queue workers and no redriver: the redrive experiment cannot run there.
    workers = {k: v for k, v in INSTANCES.items() if v["type"] == "queue_worker"}
    made = {e.template for e in per_instance(CATALOG, workers)}
    assert "dlq-redrive-brings-all-home" not in made and "sqs-poison-to-dlq" in made
    assert "dlq-redrive-brings-all-home" in {e.template for e in per_instance(CATALOG, INSTANCES)}


def test_a_ledger_of_events_handled_gets_no_crash_after_write_experiment():
    handled = {"orders": {"type": "queue_worker", "name": "orders", "ledger_records": "handled"}}
    made = {e.template for e in per_instance(CATALOG, handled)}
    assert "sqs-crash-after-write-no-duplicate" not in made and "sqs-poison-to-dlq" in made
    effects = {"orders": {**handled["orders"], "ledger_records": "side_effects"}}
    assert "sqs-crash-after-write-no-duplicate" in {
        e.template for e in per_instance(CATALOG, effects)
    }


def test_a_ledger_of_events_handled_is_not_judged_for_duplicates_and_says_so():
    handled = {"orders": {"type": "queue_worker", "name": "orders", "ledger_records": "handled"}}
    poison = next(e for e in per_instance(CATALOG, handled) if e.template == "sqs-poison-to-dlq")
    assert by_name("sqs-poison-to-dlq").expect.max_duplicates == 0  # the template judges them
    assert poison.expect.max_duplicates is None and "duplicates not judged" in poison.notes
    effects = {"orders": {**handled["orders"], "ledger_records": "side_effects"}}
    judged = next(e for e in per_instance(CATALOG, effects) if e.template == "sqs-poison-to-dlq")
    assert judged.expect.max_duplicates == 0
