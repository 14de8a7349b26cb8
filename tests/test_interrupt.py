"""Killing a run midway leaves nothing half-written, and the next run carries on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fkd.demo import write_demo_data
from fkd.lock import LOCK_NAME


def _as_foreground_job() -> None:
    """Undo an inherited SIG_IGN for SIGINT, as a terminal's foreground job has it.

    A shell starts background jobs (`cmd &`, nohup, some CI runners) with SIGINT
    ignored, and Python then leaves it ignored; Ctrl-C in a terminal is what these
    tests simulate, so the child gets SIGINT's default disposition back.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "fkd.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_foreground_job)


def _wait_for(predicate, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the run never reached the point to interrupt")
        time.sleep(0.2)


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and (p.suffix == ".tmp" or ".tmp" in p.name)]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_killed_training_leaves_no_model_or_record_and_the_rerun_completes(tmp_path, signum):
    data = write_demo_data(tmp_path / "demo", n_train=120, n_test=10)
    runs = tmp_path / "runs"
    args = ["train", "--data", str(data), "--model", "cnn_baseline", "--runs-dir", str(runs), "--seed", "1"]
    process = _start([*args, "--epochs", "500"], tmp_path)
    # The epoch bar appears on stderr once fit has started.
    stderr_lines: list[str] = []

    def training_started() -> bool:
        line = process.stderr.readline()
        stderr_lines.append(line)
        return "epoch" in line or process.poll() is not None

    _wait_for(training_started)
    time.sleep(2.0)
    process.send_signal(signum)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 130, "".join(stderr_lines) + rest
    assert "interrupted" in rest
    assert not list(runs.rglob("*.keras")) and not list(runs.rglob("*.json"))
    assert not _leftovers(tmp_path)

    finished = subprocess.run([sys.executable, "-m", "fkd.cli", *args, "--epochs", "1"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    records = list((runs / "results").glob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["epochs"] == 1
    assert len(list((runs / "models").glob("*.keras"))) == 1


@pytest.mark.slow
def test_killed_report_leaves_the_earlier_report_untouched(tmp_path):
    data = write_demo_data(tmp_path / "demo", n_train=120, n_test=10)
    out = tmp_path / "reports"
    out.mkdir()
    (out / "report.html").write_text("the earlier report")
    process = _start(["report", "--data", str(data), "--profile", "smoke", "--out", str(out)], tmp_path)
    _wait_for(lambda: "[1/" in process.stderr.readline() or process.poll() is not None)
    time.sleep(3.0)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode != 0
    assert (out / "report.html").read_text() == "the earlier report"
    # Only the lock's empty file may stay (see fkd.lock); the holder's pid file goes with the process.
    assert sorted(p.name for p in out.iterdir() if p.name not in ("failed", LOCK_NAME)) == ["report.html"]
    assert not list(tmp_path.glob(".fkd-report-tmp-*")), "the staging folder was not cleaned up"
