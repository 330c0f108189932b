"""Packaging (function zips, the dependency layer) and the program runner's config loading."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from components import packaging
from localcloud.deploy import ProgramConfigError, RecordingMocks, load_config, run_program

REPO = Path(__file__).resolve().parents[3]


def make_functions(root: Path) -> Path:
    functions = root / "functions"
    for rel in (
        "__init__.py",
        "faults/__init__.py",
        "faults/settings.py",
        "common/__init__.py",
        "queue_worker/__init__.py",
        "queue_worker/handler.py",
        "queue_worker/__pycache__/handler.cpython-311.pyc",
        "notifier/handler.py",
    ):
        path = functions / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# " + rel)
    return functions


def test_function_zip_holds_its_package_and_the_shared_ones_only(tmp_path):
    functions = make_functions(tmp_path)
    archive = packaging.function_code(functions, "queue_worker")
    assert sorted(archive.assets) == [
        "functions/__init__.py",
        "functions/common/__init__.py",
        "functions/faults/__init__.py",
        "functions/faults/settings.py",
        "functions/queue_worker/__init__.py",
        "functions/queue_worker/handler.py",
    ]
    asset = archive.assets["functions/queue_worker/handler.py"]
    assert (
        isinstance(asset, pulumi.FileAsset)
        and Path(asset.path).read_text() == "# queue_worker/handler.py"
    )


def test_function_zip_follows_imports_of_sibling_packages(tmp_path):
    functions = make_functions(tmp_path)
    (functions / "notifier" / "handler.py").write_text(
        "from functions.queue_worker.handler import x\n"
    )
    archive = packaging.function_code(functions, "notifier")
    assert "functions/queue_worker/handler.py" in archive.assets
    (functions / "notifier" / "handler.py").write_text("import functions.missing.handler\n")
    with pytest.raises(packaging.PackagingError, match="imports functions.missing"):
        packaging.function_code(functions, "notifier")


def test_a_function_without_handler_is_a_packaging_error(tmp_path):
    functions = make_functions(tmp_path)
    with pytest.raises(packaging.PackagingError, match="nope/handler.py"):
        packaging.function_code(functions, "nope")


def test_layer_is_built_once_per_requirements_content(tmp_path, monkeypatch):
    installs = []

    def fake_pip(requirements: Path, target: Path) -> None:
        installs.append(requirements.read_text())
        (target / "tenacity").mkdir(parents=True)

    monkeypatch.setattr(packaging, "_pip_install", fake_pip)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("tenacity==9.0.0\n")
    first = packaging.build_layer(requirements, tmp_path / "build")
    assert packaging.build_layer(requirements, tmp_path / "build") == first
    assert installs == ["tenacity==9.0.0\n"]
    assert (first / "python" / "tenacity").is_dir()
    requirements.write_text("tenacity==9.1.0\n")
    second = packaging.build_layer(requirements, tmp_path / "build")
    assert second != first and len(installs) == 2


def test_layer_build_without_requirements_names_the_file(tmp_path):
    with pytest.raises(packaging.PackagingError, match="requirements.txt does not exist"):
        packaging.build_layer(tmp_path / "requirements.txt", tmp_path / "build")


def test_unknown_layer_source_is_rejected(tmp_path):
    with pytest.raises(packaging.PackagingError, match="layerSource='pip'"):
        packaging.layer_archive(tmp_path, "pip", tmp_path)


def test_config_merges_schema_defaults_stack_file_and_overrides():
    config = load_config("local", REPO, {"functionTimeout": "4", "aws:profile": "x"})
    assert config["failmodes:functionTimeout"] == "4"  # override wins
    assert config["failmodes:alarmPeriod"] == "10"  # stack file
    assert config["failmodes:rideBillingMode"] == "PAY_PER_REQUEST"  # schema default
    assert config["failmodes:chaosEnabled"] == "true" and config["aws:profile"] == "x"


def test_every_key_in_the_schema_has_type_default_and_description():
    import yaml

    schema = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    for key, spec in schema.items():
        assert {"type", "default", "description"} <= set(spec), key


def write_project(root: Path, stack_config: str) -> Path:
    (root / "Pulumi.yaml").write_text(
        "name: failmodes\nruntime: python\nconfig:\n  size:\n    type: integer\n    default: 1\n"
        "    description: d\n"
    )
    (root / "Pulumi.s.yaml").write_text(stack_config)
    (root / "__main__.py").write_text(
        "import pulumi\nimport pulumi_aws as aws\n"
        "c = pulumi.Config()\n"
        "q = aws.sqs.Queue('q', visibility_timeout_seconds=c.require_int('size'))\n"
        "pulumi.export('url', q.url)\npulumi.export('size', c.require_int('size'))\n"
        "pulumi.export('stack', pulumi.get_stack())\n"
    )
    return root


def test_config_errors_name_the_stack_or_key(tmp_path):
    project = write_project(tmp_path, "config:\n  failmodes:sise: 2\n")
    with pytest.raises(ProgramConfigError, match="unknown stack 'prod'"):
        load_config("prod", project)
    with pytest.raises(ProgramConfigError, match="'failmodes:sise' is not declared"):
        load_config("s", project)
    (tmp_path / "Pulumi.s.yaml").write_text("config:\n  failmodes:size: big\n")
    with pytest.raises(ProgramConfigError, match="not of declared type integer"):
        load_config("s", project)
    (tmp_path / "Pulumi.s.yaml").write_text("config:\n  failmodes:size: 2\n")
    with pytest.raises(ProgramConfigError, match="'failmodes:other' is not declared"):
        load_config("s", project, {"other": "1"})


def test_runner_can_run_programs_again_and_again_in_one_process(tmp_path):
    project = write_project(tmp_path, "config:\n  failmodes:size: 2\n")
    first, second = RecordingMocks(), RecordingMocks()
    out1 = run_program(project, "s", first)
    out2 = run_program(project, "s", second, config_overrides={"size": "3"})
    assert out1 == {
        "url": first.get("aws:sqs/queue:Queue", "q").outputs["url"],
        "size": 2,
        "stack": "s",
    }
    assert out2["size"] == 3
    assert [r.name for r in second] == ["q"]  # nothing leaked from the first run
    assert (
        second.get("aws:sqs/queue:Queue", "q").parent
        == "urn:pulumi:s::failmodes::pulumi:pulumi:Stack::failmodes-s"
    )


def test_a_failing_program_raises_and_leaves_the_runner_usable(tmp_path):
    project = write_project(tmp_path, "config: {}\n")
    (tmp_path / "__main__.py").write_text("raise RuntimeError('broken program')\n")
    with pytest.raises(RuntimeError, match="broken program"):
        run_program(project, "s", RecordingMocks())
    write_project(tmp_path, "config: {}\n")
    assert run_program(project, "s", RecordingMocks())["size"] == 1
