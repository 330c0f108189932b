"""load_config checks every value against Pulumi.yaml's declared type and the bounds its
description states, provider keys (aws:region) too, before the program runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcloud.deploy.config import ProgramConfigError, _declared_bounds, load_config

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"functionTimeout": "abc"}, "an integer 1..900"),
        ({"functionTimeout": "901"}, "1..900"),
        ({"queueMaxReceiveCount": "0"}, "1..1000"),
        ({"chaosEnabled": "maybe"}, "true or false"),
        ({"notifierApiOpen": "yes"}, "true or false"),
        ({"slowApiFailureRate": "1.5"}, "0..1"),
        ({"slowApiFailureRate": "lots"}, "a number 0..1"),
        ({"streamMaximumRetryAttempts": "-2"}, "0..10000 or -1"),
        ({"queueMaximumConcurrency": "1"}, "2..1000 or 0"),
        ({"aws:region": "xx-nowhere-1"}, "not an AWS region"),
    ],
)
def test_a_bad_value_is_refused_naming_key_and_allowed(overrides, needle) -> None:
    # GIVEN / WHEN a bad override / THEN one sentence naming it and the allowed values
    with pytest.raises(ProgramConfigError, match=needle) as err:
        load_config("local", PROJECT_DIR, overrides)
    (key,) = overrides
    assert key in str(err.value)


@pytest.mark.parametrize(
    "overrides",
    [
        {"streamMaximumRetryAttempts": "-1"},
        {"queueMaximumConcurrency": "0"},
        {"functionTimeout": "900"},
        {"chaosEnabled": "false"},
        {"notifierApiOpen": "true"},
        {"aws:region": "eu-west-1"},
    ],
)
def test_good_values_and_declared_exceptions_pass(overrides) -> None:
    # GIVEN / WHEN / THEN the edges and the declared special values are accepted
    config = load_config("local", PROJECT_DIR, overrides)
    (key,) = overrides
    assert config[key if ":" in key else f"failmodes:{key}"] == overrides[key]


def test_the_shipped_stacks_are_valid() -> None:
    # GIVEN / WHEN / THEN both stack files load as they are
    assert load_config("local", PROJECT_DIR)["failmodes:functionTimeout"] == "3"
    assert load_config("dev", PROJECT_DIR)["aws:region"] == "us-east-1"


def test_bounds_are_read_from_the_descriptions() -> None:
    # GIVEN the three description forms / THEN each reads as (low, high, extras)
    assert _declared_bounds({"description": "Timeout (1-900). More."}) == (1, 900, ())
    assert _declared_bounds({"description": "Age (-1 infinite, or 60-604800)."}) == (
        60,
        604800,
        (-1,),
    )
    assert _declared_bounds({"description": "Cap (2-1000); 0 leaves it uncapped."}) == (
        2,
        1000,
        (0,),
    )
    assert _declared_bounds({"description": "Period (10, 20, 30 or a multiple of 60)."}) is None


def test_a_stack_name_that_is_a_path_is_refused() -> None:
    with pytest.raises(ProgramConfigError, match="invalid stack name"):
        load_config("../local", PROJECT_DIR)
