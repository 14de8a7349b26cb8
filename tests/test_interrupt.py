"""Interrupting a run midway stops it within seconds, with one line, leaves nothing half-written, and the
next run carries on -- whether the interrupt is Ctrl-C at a terminal, SIGINT or SIGTERM."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from fkd.demo import write_demo_data
from fkd.lock import LOCK_NAME

INTERRUPTED = "fkd: interrupted; finished results are kept, nothing half-written was left"
STOP_SECONDS = 10.0
"""How soon an interrupted ``fkd train`` must have exited. Its line comes within a second; the rest is the
interpreter letting go of TensorFlow, as at the end of any run (1 to 5 s on a busy 2-core machine)."""


def _as_background_job() -> None:
    """Start with SIGINT ignored, as a shell starts a background job (``cmd &`` in a script, some CI
    runners). Python leaves an inherited SIG_IGN alone, so fkd must install its own handler for an
    interrupt sent to it to stop it; these tests start it the hard way to check that it does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "fkd.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_background_job)


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
    sent = time.monotonic()
    _, rest = process.communicate(timeout=120)
    stopped = time.monotonic() - sent
    assert process.returncode == 130, "".join(stderr_lines) + rest
    assert stopped <= STOP_SECONDS, f"stopped {stopped:.1f} s after {signum.name}"
    assert rest.count(INTERRUPTED) == 1 and rest.strip().splitlines()[-1] == INTERRUPTED, rest
    assert not list(runs.rglob("*.keras")) and not list(runs.rglob("*.json"))
    assert not _leftovers(tmp_path)

    finished = subprocess.run([sys.executable, "-m", "fkd.cli", *args, "--epochs", "1"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    records = list((runs / "results").glob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["epochs"] == 1
    assert len(list((runs / "models").glob("*.keras"))) == 1


def _shown_at(shown: list[tuple[float, bytes]], line: str) -> float:
    """When ``line`` had appeared in full on the terminal (``inf`` if never)."""
    seen = b""
    for at, chunk in shown:
        seen += chunk
        if line.encode() in seen:
            return at
    return float("inf")


def _take_the_terminal() -> None:
    """In the child, a session leader of its own: make its stdin, a pty, its controlling terminal, so that
    the terminal's Ctrl-C reaches it as it reaches a command typed at a prompt."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.slow
def test_ctrl_c_at_a_terminal_stops_training_within_seconds_with_one_line(tmp_path):
    """A real terminal: the line discipline turns the typed Ctrl-C into SIGINT for the foreground job."""
    data = write_demo_data(tmp_path / "demo", n_train=120, n_test=10)
    runs = tmp_path / "runs"
    terminal, follower = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # tqdm draws on 0 columns nothing
    process = subprocess.Popen(
        [sys.executable, "-m", "fkd.cli", "train", "--data", str(data), "--model", "cnn_baseline",
         "--runs-dir", str(runs), "--epochs", "500"],
        cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdin=follower, stdout=follower,
        stderr=follower, start_new_session=True, preexec_fn=_take_the_terminal)
    os.close(follower)
    shown: list[tuple[float, bytes]] = []

    def read() -> None:  # drained all along, so that the child never blocks on a full terminal
        while True:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # EIO: the child closed its end
                return
            if not chunk:
                return
            shown.append((time.monotonic(), chunk))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        _wait_for(lambda: b"epoch" in b"".join(c for _, c in shown) or process.poll() is not None)
        time.sleep(2.0)
        os.write(terminal, b"\x03")  # what Ctrl-C types
        typed = time.monotonic()
        process.wait(timeout=120)
        stopped = time.monotonic() - typed
        reader.join(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(terminal)
    text = b"".join(c for _, c in shown).decode(errors="replace")
    assert process.returncode == 130, text
    assert stopped <= STOP_SECONDS, f"the line {_shown_at(shown, INTERRUPTED) - typed:.1f} s after Ctrl-C, " \
                                    f"the exit {stopped:.1f} s after"
    assert text.count(INTERRUPTED) == 1 and text.strip().splitlines()[-1].strip() == INTERRUPTED, text
    assert not list(runs.rglob("*.keras")) and not list(runs.rglob("*.json")) and not _leftovers(tmp_path)


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
