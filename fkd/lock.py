"""One report at a time per output folder.

Two reports writing into the same folder would interleave their files, so
:func:`report_lock` holds a lock file there while a report is made. The lock is
``filelock``'s: an OS-level lock (``flock`` on Unix, ``msvcrt`` on Windows) that
the operating system releases when its process dies, so a crashed report never
blocks the next one, and nothing here needs ``fcntl`` or ``os.kill`` (which on
Windows would terminate the process it was meant to probe). The holder writes its
process id beside the lock, so the refusal can say who holds it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from fkd.atomic import make_folder, write_text
from fkd.errors import FkdError

LOCK_NAME = ".fkd-report.lock"
PID_NAME = ".fkd-report.pid"


class ReportLocked(FkdError, RuntimeError):
    """Another report is writing into the same folder."""


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or "x")
    except (OSError, ValueError):
        return None


def _locked_message(out: Path, pid: int | None) -> str:
    who = f"process {pid}" if pid is not None else "another process"
    return (f"another fkd report ({who}) is writing into {out}; wait for it to finish or choose another "
            "--out. The lock is released as soon as that process ends.")


@contextlib.contextmanager
def report_lock(out: Path) -> Iterator[Path]:
    """Hold ``<out>/.fkd-report.lock`` while a report is made; :class:`ReportLocked` if it is taken.

    Yields the lock file's path. The holder's pid is kept in ``<out>/.fkd-report.pid``
    for the refusal message and removed on release; the (empty) lock file stays, as
    deleting a lock file on release would race with the next report opening it.
    """
    make_folder(out)
    path, pid_file = out / LOCK_NAME, out / PID_NAME
    lock = FileLock(path)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        raise ReportLocked(_locked_message(out, _read_pid(pid_file))) from None
    try:
        write_text(pid_file, f"{os.getpid()}\n")
        yield path
    finally:
        pid_file.unlink(missing_ok=True)
        lock.release()
