"""`python -m localcloud serve` refuses bad options before starting anything."""

from __future__ import annotations

import pytest

from localcloud import server


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_a_bad_port_is_exit_2_naming_it(port, capsys):
    with pytest.raises(SystemExit) as stopped:
        server.main(["serve", "--port", port])
    assert stopped.value.code == 2
    [line] = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert f"argument --port: {port}" in line or f"argument --port: {port!r}" in line


@pytest.mark.parametrize("scale", ["0", "2", "-0.5"])
def test_a_time_scale_outside_0_1_is_one_line_and_exit_2(scale, capsys, monkeypatch):
    monkeypatch.setattr(server, "start", lambda **_: pytest.fail("the cloud was started"))
    assert server.main(["serve", "--time-scale", scale]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and scale in line and "(0, 1]" in line
