"""A run's library log: the libraries' lines go to the run directory, the run's own to the
console, and the loggers are as they were once the run ends."""

from __future__ import annotations

import logging

from chaos import logs


def test_library_lines_go_to_the_run_directory_and_the_loggers_are_restored(tmp_path, capsys):
    moto = logging.getLogger("moto")
    before = (moto.handlers[:], moto.propagate)
    with logs.library_log(tmp_path / "run") as path:
        logging.getLogger("moto.stepfunctions.parser").error("Exception=FailureEventException")
        logging.getLogger("chaos.cli").warning("a problem of the run")
    assert path == tmp_path / "run" / logs.LIBRARY_LOG
    assert "FailureEventException" in path.read_text()
    assert "a problem of the run" not in path.read_text()
    assert "FailureEventException" not in capsys.readouterr().err
    assert (moto.handlers, moto.propagate) == before


def test_every_library_logger_is_routed(tmp_path):
    with logs.library_log(tmp_path) as path:
        for name in logs.LIBRARY_LOGGERS:
            logging.getLogger(f"{name}.inner").error("from %s", name)
    text = path.read_text()
    assert all(f"from {name}" in text for name in logs.LIBRARY_LOGGERS)
