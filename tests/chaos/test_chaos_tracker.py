"""The fault tracker against the deployed stack: a fault is live at once, and undone."""

from __future__ import annotations

from chaos import probes
from functions.faults import settings


def test_inject_is_live_and_undo_restores(chaos_stack, stack_outputs, faults) -> None:
    # GIVEN the queue worker's env as deployed
    fn = stack_outputs["queue_worker"]["function"]["name"]
    before = probes.function_env(chaos_stack, fn)
    # WHEN a fault is injected (the action waits for function_updated)
    faults.inject(fn, failure_rate=0.5, seed=3)
    during = probes.function_env(chaos_stack, fn)
    conf = chaos_stack.client("lambda").get_function_configuration(FunctionName=fn)
    # THEN it is in place and the update finished
    assert during[settings.FAILURE_RATE] == "0.5" and during[settings.MASTER] == "on"
    assert conf.get("LastUpdateStatus", "Successful") == "Successful"
    # AND undoing restores exactly the deployed env
    faults.undo_all()
    assert probes.function_env(chaos_stack, fn) == before
