"""--processes: how many workers, and the combinations that are refused."""

import os

import pytest
import tornado.process

from workers import worker_count


def test_one_process_by_default():
    assert worker_count(1, debug=False) == 1
    assert worker_count(1, debug=True) == 1


def test_zero_means_one_per_core():
    assert worker_count(0, debug=False) == tornado.process.cpu_count()


@pytest.mark.parametrize(("processes", "debug"), [(2, True), (-1, False)])
def test_refused_with_exit_code_2(processes, debug, capsys):
    with pytest.raises(SystemExit) as stopped:
        worker_count(processes, debug=debug)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith("error: --processes")


def test_refused_where_processes_cannot_fork(monkeypatch, capsys):
    monkeypatch.delattr(os, "fork")
    with pytest.raises(SystemExit):
        worker_count(2, debug=False)
    assert "needs os.fork" in capsys.readouterr().err
