"""Stack loading errors, the CLI's messages, and the run report files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chaos import cli, report
from chaos.errors import (
    MissingOutputError,
    NotChaosEnabledError,
    UnknownStackError,
    UnreachableError,
)
from chaos.stack import Stack, load_stack


def write_state(root: Path, name: str, doc: dict) -> None:
    path = root / ".localcloud" / name / "state.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc))


def test_unknown_stack_names_what_was_looked_for(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no Pulumi CLI
    write_state(tmp_path, "other", {"outputs": {"chaos_enabled": True}})
    with pytest.raises(UnknownStackError, match=r"unknown stack 'dev'.*local stacks here: other"):
        load_stack("dev", root=tmp_path)


def test_state_without_outputs(tmp_path: Path) -> None:
    write_state(tmp_path, "local", {"version": 1, "resources": []})
    with pytest.raises(MissingOutputError, match="has no 'outputs'"):
        load_stack("local", root=tmp_path)


def test_missing_output_names_the_path() -> None:
    stack = Stack("s", {"queue_worker": {"function": {}}}, source="test")
    with pytest.raises(MissingOutputError, match="'queue_worker.function.name'"):
        stack.get("queue_worker.function.name")


def test_not_chaos_enabled_is_refused_unless_forced() -> None:
    stack = Stack("s", {"chaos_enabled": False})
    with pytest.raises(NotChaosEnabledError, match="--force"):
        stack.require_chaos_enabled()
    stack.require_chaos_enabled(force=True)


def test_an_endpoint_that_cannot_be_reached(aws_env: None) -> None:
    stack = Stack("s", {"chaos_enabled": True}, endpoint="http://127.0.0.1:9")
    with pytest.raises(UnreachableError, match="cannot reach"):
        stack.check_reachable()


def test_cli_reports_errors_clearly(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    write_state(tmp_path, "off", {"outputs": {"chaos_enabled": False}, "endpoint": "http://x"})
    assert cli.main(["run", "--stack", "nope"]) == 2
    assert "unknown stack 'nope'" in capsys.readouterr().err
    assert cli.main(["run", "--stack", "off", "--experiment", "no-such"]) == 2
    assert "unknown experiment 'no-such'" in capsys.readouterr().err
    assert cli.main(["list"]) == 0
    assert "sqs-poison-to-dlq" in capsys.readouterr().out


def result(name: str, verdict: str) -> dict:
    return {
        "name": name,
        "pattern": "queue_worker",
        "title": "t",
        "fault": "poison",
        "verdict": verdict,
        "sent": 3,
        "processed": 2,
        "dead_lettered": 1 if verdict == "pass" else 0,
        "lost": 0 if verdict == "pass" else 1,
        "duplicates": 0,
        "lost_ids": [],
        "alarms": [
            {
                "alarm": "a",
                "to_state": "ALARM",
                "expected_within_s": 30.0,
                "observed_after_s": 12.5,
                "passed": True,
            }
        ],
        "time_compressed": True,
        "time_scale": 0.01,
        "budget_s": 30.0,
        "wall_time_s": 4.2,
        "verdicts": ["conservation: FAIL\n  - 1 lost (seen nowhere): abc"],
        "error": None,
        "timeline": {
            "start": 0,
            "sent": [0.0, 0.5, 1.0],
            "failed_sends": [],
            "failures": [[1.0, 2.0]],
            "dlq": [3.0],
            "alarms": [{"alarm": "a", "at": 1.0, "old": "OK", "new": "ALARM"}],
            "end": 5.0,
        },
    }


def test_report_files_and_latest(tmp_path: Path) -> None:
    first = report.new_run_dir(tmp_path)
    report.write_report(
        first,
        {"stack": "local", "time_compressed": True, "time_scale": 0.01},
        [result("one", "pass")],
    )
    second = report.new_run_dir(tmp_path)
    report.write_report(second, {"stack": "local"}, [result("one", "pass"), result("two", "fail")])
    doc = json.loads((second / "report.json").read_text())
    assert doc["passed"] is False and [e["name"] for e in doc["experiments"]] == ["one", "two"]
    summary = (second / "summary.md").read_text()
    assert "| two | queue_worker | poison | **fail** |" in summary
    assert "1 lost (seen nowhere): abc" in summary and "a: 30.0 / 12.5" in summary
    assert (second / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "latest").resolve() == second.resolve()
    assert report.load_report("latest", tmp_path)["run_id"] == second.name
    # AND a write while runs go on (picture=False) keeps the documents current, not the picture
    third = report.new_run_dir(tmp_path)
    report.write_report(third, {"stack": "local"}, [result("one", "pass")], picture=False)
    assert json.loads((third / "report.json").read_text())["experiments"][0]["name"] == "one"
    assert (third / "summary.md").exists() and not (third / "timeline.png").exists()


def test_a_run_dir_prefix_names_the_run_and_other_documents_share_the_writer(
    tmp_path: Path,
) -> None:
    # GIVEN a prefix (the scenarios name their runs), WHEN a run dir is made and documents
    # written into it, THEN the dir exists, empty, under that name, and report.json holds the doc
    run_dir = report.new_run_dir(tmp_path / "scenarios", prefix="observability-")
    assert run_dir.is_dir() and not any(run_dir.iterdir())
    assert re.fullmatch(r"observability-\d{8}T\d{6}Z-[0-9a-f]{6}", run_dir.name)
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", report.new_run_dir(tmp_path).name)
    path = report.write_documents(run_dir, {"lost": 0, "at": Path("x")}, {"report.md": "# r\n"})
    assert path == run_dir / "report.json"
    assert json.loads(path.read_text()) == {"lost": 0, "at": "x"}  # default=str, as chaos'
    assert (run_dir / "report.md").read_text() == "# r\n"
    assert not (tmp_path / "scenarios" / "latest").exists()  # only write_report points latest
