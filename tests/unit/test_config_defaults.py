"""Pulumi.yaml's config defaults and bounds agree with the component Settings they feed.

A default or bound is declared once, in the component's Settings (components/validation.py).
Pulumi.yaml must still carry defaults (Pulumi needs them) and states each key's bounds in its
description (load_config checks them before the program runs), so these tests hold those
copies to the declarations. Which Args field a key feeds is read from __main__.py itself:
the program runs with every config value tagged by its key, and each Settings.check records
the tagged values it sees; a boolean cannot be tagged, so each one is flipped instead and the
fields that change are the ones it feeds. Three program runs, about 10 s.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_type_hints

import pulumi
import pytest
import yaml

from components.api import INTEGRATION_LIMIT_MS
from components.validation import Setting, Settings
from localcloud.deploy import RecordingMocks, run_program
from localcloud.deploy.config import _declared_bounds

PROJECT_DIR = Path(__file__).resolve().parents[2]
SCHEMA: dict[str, dict[str, Any]] = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())[
    "config"
]
# Run with Pulumi.yaml's own defaults; the local layer source needs no pip (it feeds no Args).
DEFAULTS = {key: spec["default"] for key, spec in SCHEMA.items()} | {"layerSource": "localcloud"}
# Keys whose default (0 or "") makes __main__.py leave the field out, and a value that makes
# it pass the field: the declaration must have no default either.
SET_UNSET = {"queueMaximumConcurrency": 10, "slowApiSeed": "7", "alarmEmail": "ops@example.com"}
# Keys that feed no component Args field, and where they go instead.
NOT_ARGS = {
    "chaosEnabled": "exported as chaos_enabled",
    "layerSource": "components/packaging.layer_archive",
}
# Function timeouts that deliberately differ from FunctionArgs' default: the slow API and the
# delivery calling it are cut by API Gateway's integration limit, not the stack's default.
TIMEOUT_OVERRIDES = {
    "slowApiTimeout": INTEGRATION_LIMIT_MS // 1000,
    "deliveryTimeout": INTEGRATION_LIMIT_MS // 1000,
}


class _Int(int):
    key: str


class _Float(float):
    key: str


class _Str(str):
    key: str


def _tagged(kind: type, value: Any, key: str) -> Any:
    if value is None:
        return None
    tagged = kind(value)
    tagged.key = key
    return tagged


Seen = list[tuple[Settings, str, Any]]  # (declaration, field, value), in check order
DECLARED: dict[type, Settings] = {}  # Args TypedDict -> its Settings, as the run met them
Fed = set[tuple[type, str]]  # (Args TypedDict, field)


@contextmanager
def _recording() -> Iterator[Seen]:
    seen: Seen = []
    check = Settings.check

    def recording_check(self, component, args, prefix=""):
        DECLARED[self.args_type] = self
        seen.extend((self, field, args[field]) for field in self if field in args)
        return check(self, component, args, prefix)

    config = pulumi.Config
    originals = {name: getattr(config, name) for name in ("get", "require")}
    originals |= {name: getattr(config, name) for name in ("require_int", "require_float")}
    kinds = {"get": _Str, "require": _Str, "require_int": _Int, "require_float": _Float}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Settings, "check", recording_check)
        for name, original in originals.items():
            patch.setattr(
                config,
                name,
                lambda self, key, _o=original, _k=kinds[name]: _tagged(_k, _o(self, key), key),
            )
        yield seen


def _run(overrides: Mapping[str, Any]) -> Seen:
    with _recording() as seen:
        run_program(
            PROJECT_DIR,
            "local",
            RecordingMocks(),
            config_overrides={
                k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in overrides.items()
            },
        )
    return seen


def _fed(seen: Seen) -> dict[str, Fed]:
    fed: dict[str, Fed] = {}
    for settings, field, value in seen:
        key = getattr(value, "key", None)
        if key in SCHEMA:
            fed.setdefault(key, set()).add((settings.args_type, field))
    return fed


@pytest.fixture(scope="module")
def feeds() -> dict[str, Fed]:
    """config key -> the (Args, field) pairs __main__.py feeds it to."""
    overrides = DEFAULTS | SET_UNSET
    baseline = _run(overrides)
    result = _fed(baseline)
    for key, spec in SCHEMA.items():
        if spec.get("type") == "boolean" and key not in NOT_ARGS:
            flipped = _run(overrides | {key: not spec["default"]})
            assert len(flipped) == len(baseline), f"flipping {key} changed the program's shape"
            result[key] = {
                (settings.args_type, field)
                for (settings, field, before), (_, _, after) in zip(baseline, flipped, strict=True)
                if before != after
            }
    return result


def _name(args_type: type, field: str) -> str:
    return f"{args_type.__name__}.{field}"


def _as_declared(value: Any, setting: Setting) -> Any:
    # Pulumi.yaml writes a number as a string where it may be fractional ("0.2").
    if isinstance(setting.default, float) and isinstance(value, str | int):
        return float(value)
    return value


def test_every_key_feeds_an_args_field_or_is_known_not_to(feeds) -> None:
    unfed = sorted(key for key in set(SCHEMA) - set(NOT_ARGS) if not feeds.get(key))
    assert not unfed, f"Pulumi.yaml keys feeding no component Args field: {unfed}"


def test_each_pulumi_yaml_default_is_the_component_default(feeds) -> None:
    # GIVEN each key and the Settings field(s) __main__.py feeds it to
    wrong = []
    for key, fields in sorted(feeds.items()):
        default = SCHEMA[key]["default"]
        leaves_out = key in SET_UNSET
        for args_type, field in sorted(fields, key=lambda f: _name(*f)):
            setting = DECLARED[args_type][field]
            # THEN its default is the declared one (or, where the default leaves the field
            # out, the declaration has none either)
            expected = None if leaves_out else TIMEOUT_OVERRIDES.get(key, setting.default)
            got = None if leaves_out else _as_declared(default, setting)
            if got != expected or (leaves_out and setting.default is not None):
                wrong.append(
                    f"Pulumi.yaml {key} default {default!r} != {_name(args_type, field)}"
                    f" default {setting.default!r}"
                    + (" (the key's default leaves the field out)" if leaves_out else "")
                )
    assert not wrong, "\n".join(wrong)


def test_each_pulumi_yaml_bound_is_within_the_component_bounds(feeds) -> None:
    # GIVEN the bounds a key's description states (load_config checks them) and the
    # Settings bounds of the field it feeds
    wrong = []
    for key, fields in sorted(feeds.items()):
        spec = SCHEMA[key]
        leaves_out = key in SET_UNSET
        declared = _declared_bounds(spec)
        for args_type, field in sorted(fields, key=lambda f: _name(*f)):
            setting = DECLARED[args_type][field]
            if setting.low is None or setting.high is None:
                if declared is not None:
                    name = _name(args_type, field)
                    wrong.append(f"Pulumi.yaml {key} states bounds {declared}; {name} has none")
                continue
            component = (
                f"{_name(args_type, field)} {setting.low}..{setting.high} or {setting.extra}"
            )
            if declared is None:
                # An empty string meaning "unset" cannot carry a numeric range (load_config
                # would refuse the default itself); the component checks it.
                if spec["default"] != "":
                    wrong.append(f"Pulumi.yaml {key} states no bounds; {component}")
                continue
            low, high, extras = declared
            unset = {float(spec["default"])} if leaves_out else set()
            # THEN config never admits a value the component refuses
            if (
                low < setting.low
                or high > setting.high
                or not set(extras) <= {*setting.extra, *unset}
            ):
                wrong.append(f"Pulumi.yaml {key} bounds {declared} exceed {component}")
    assert not wrong, "\n".join(wrong)


def test_each_optional_scalar_args_field_has_one_setting(feeds) -> None:
    # GIVEN every Args the program's components checked
    for args_type, settings in sorted(DECLARED.items(), key=lambda item: item[0].__name__):
        hints = get_type_hints(args_type)
        scalars = {
            field
            for field in args_type.__optional_keys__
            if hints[field] in (int, float, bool, str)
        }
        # THEN its Settings name only its fields, and every optional scalar one
        assert set(settings) <= set(hints), f"{args_type.__name__}: {set(settings) - set(hints)}"
        assert scalars <= set(settings), f"{args_type.__name__}: {scalars - set(settings)}"
