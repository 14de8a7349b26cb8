"""TensorFlow's native start-up lines stay off the console, and are shown only when something fails."""

from __future__ import annotations

import os

import pytest

from fkd.console import native_stderr_to_file


def _native_write(text: str) -> None:
    os.write(2, text.encode())  # what C++ code does: straight to file descriptor 2


def test_native_lines_are_kept_off_the_console(capfd):
    with native_stderr_to_file():
        _native_write("I0000 oneDNN custom operations are on\n")
    assert "oneDNN" not in capfd.readouterr().err


def test_a_failure_replays_them_so_its_cause_is_visible(capfd):
    with pytest.raises(RuntimeError), native_stderr_to_file():
        _native_write("E0000 could not load a library\n")
        raise RuntimeError("import failed")
    assert "could not load a library" in capfd.readouterr().err


def test_an_interrupt_does_not_replay_them(capfd):
    # Ctrl-C during TensorFlow's import ends in fkd's one interrupt line, not in TensorFlow's start-up chatter
    with pytest.raises(KeyboardInterrupt), native_stderr_to_file():
        _native_write("I0000 oneDNN custom operations are on\n")
        raise KeyboardInterrupt
    assert "oneDNN" not in capfd.readouterr().err
