"""`python -m scenarios`: bad input is one line, exit status 2, before any cloud starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.__main__ import main


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["nosuch"], "invalid choice: 'nosuch'"),
        (["observability", "--compress", "0"], "'0': allowed a number > 0"),
        (["observability", "--compress", "abc"], "'abc' is not a number"),
        (["observability", "--compress", "nan"], "allowed a number > 0"),
        (["reliability", "--max-requests", "0"], "'0': allowed an integer > 0"),
        (["observability", "--drain", "-1"], "allowed a number >= 0"),
        (["observability", "--variants", "direct,nosuch"], "unknown variant(s) ['nosuch']"),
        (["reliability", "--rate-scale", "2"], "--rate-scale is for observability only"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, capsys, argv, needle) -> None:
    # GIVEN / WHEN the CLI gets the bad input
    try:
        status = main([*argv, "--reports", str(tmp_path / "r")])
    except SystemExit as exc:  # argparse's own exit
        status = exc.code
    # THEN one line names it, exit 2, no report directory
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and needle in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()
