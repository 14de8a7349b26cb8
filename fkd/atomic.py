"""Writing files so that nobody ever sees half of one: write beside the target, then rename.

Every file fkd writes -- data files, run records, models, submissions, figures,
benchmark results, cached data -- goes through :func:`atomic_path` (or the
helpers built on it). A killed process leaves either the old file or the new one,
never a truncated mix, and its temporary file is removed on the way out.

A write the system refuses -- a full disk or quota, a file over the size limit, a
read-only or forbidden folder -- is a :class:`WriteError` naming the folder and the
reason, which the command line prints as one line; the temporary file is removed
and the earlier file kept, so a full disk costs the run, never an earlier result.
Destinations are checked before any work (:func:`check_destination`,
:func:`check_folder`) where that can be known in advance.

Permissions: the temporary file is created with mode ``0o666`` filtered by the
process umask, exactly as ``open(path, "w")`` would create the target, so models
and records are as readable as any other file the user writes. The umask itself
is never changed (it is process-wide; changing it even briefly races with other
threads).

JSON: :func:`to_json` is fkd's one JSON writer. NaN (a keypoint never labelled) and
infinities become ``null`` -- bare ``NaN`` is not JSON and breaks other readers --
and NumPy numbers become plain ones.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fkd.errors import FkdError


class DestinationError(FkdError, ValueError):
    """An output path that cannot be written: its folder is missing, it is a folder (or a file) itself,
    or its folder cannot be written to."""


class WriteError(FkdError, OSError):
    """The system refused a write (disk full, read-only, no permission...); ``errno`` says which.

    An ``OSError`` too, so code that tolerates a failed write (the parse cache) still does.
    """

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.errno = code


_ELSEWHERE = "choose a folder you can write to"
WRITE_REFUSALS: dict[int, tuple[str, str]] = {
    getattr(errno, name): reason for name, reason in (
        ("ENOSPC", ("the disk is full", "free some space")),
        ("EDQUOT", ("your disk quota is used up", "free some space")),
        ("EFBIG", ("the file is over the size limit of this file system or process",
                   "raise the limit (ulimit -f) or write to another disk")),
        ("EROFS", ("the folder is on a read-only file system", _ELSEWHERE)),
        ("EACCES", ("permission denied", _ELSEWHERE)),
        ("EPERM", ("permission denied", _ELSEWHERE)),
        ("ENOTDIR", ("a file stands where a folder is needed", _ELSEWHERE)),
        ("EEXIST", ("a file stands where a folder is needed", _ELSEWHERE)),
    ) if hasattr(errno, name)  # EDQUOT, for one, is not defined on every system
}
"""The errors with which a system refuses a write, by errno: (why, what to do)."""


def write_error(error: OSError, path: str | Path) -> WriteError | None:
    """``error``, raised while writing ``path``, as a one-line :class:`WriteError` naming the folder if the
    system refused the write; None for any other error (a bug, or a writer's own problem)."""
    if isinstance(error, WriteError) or error.errno not in WRITE_REFUSALS:
        return None
    why, remedy = WRITE_REFUSALS[error.errno]
    path = Path(path)
    return WriteError(f"cannot write {path.name} into {path.parent}: {why}; {remedy} and run again "
                      "(nothing half-written was left)", error.errno)


@contextlib.contextmanager
def _refusals_as_write_errors(path: Path) -> Iterator[None]:
    """Turn a refused write inside the block into a :class:`WriteError` about ``path``."""
    try:
        yield
    except OSError as error:
        refused = write_error(error, path)
        if refused is None:
            raise
        raise refused from error


def _writable_folder(folder: Path, path: Path, what: str) -> None:
    """Refuse ``path`` when its nearest existing folder ``folder`` cannot be written (read-only, no permission).

    ``os.access`` answers for the real user and the mount, so a read-only file system
    is refused even for root, whom permission bits do not stop.
    """
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DestinationError(f"{folder}: is read-only or not writable by you, so the {what} ({path}) "
                               "cannot be written there")


def check_destination(path: str | Path, what: str = "output") -> Path:
    """Refuse, before any work is done, an output file whose folder is missing, is not writable, or
    which is a folder."""
    path = Path(path)
    if path.is_dir():
        raise DestinationError(f"{path}: is a folder; give a file name for the {what}")
    if not path.parent.is_dir():
        raise DestinationError(f"{path.parent}: the folder for the {what} does not exist")
    _writable_folder(path.parent, path, what)
    return path


def check_folder(path: str | Path, what: str = "output") -> Path:
    """Refuse, before any work is done, an output folder that is a file, lies under a file, or cannot be
    made or written to. Creates nothing: the folder is made when the first file is written into it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DestinationError(f"{path}: is a file, not a folder; give a folder for the {what}")
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    if not existing.is_dir():
        raise DestinationError(f"{existing}: is a file, so the folder for the {what} ({path}) cannot be made")
    _writable_folder(existing, path, what)
    return path


def make_folder(path: str | Path) -> Path:
    """``mkdir -p`` whose refusal (read-only, no permission, a full disk) is a :class:`WriteError`."""
    path = Path(path)
    with _refusals_as_write_errors(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


def _new_temporary(path: Path, suffix: str) -> tuple[Path, int]:
    """Create an empty, unique temporary file beside ``path``; its name and umask-filtered mode."""
    for _ in range(100):
        candidate = path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"
        try:
            handle = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        mode = os.fstat(handle).st_mode & 0o777
        os.close(handle)
        return candidate, mode
    raise FileExistsError(f"could not create a temporary file beside {path}")


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path to write to; it becomes ``path`` when the block ends without error.

    ``suffix`` matters to writers that check file names (Keras wants ``.keras``,
    matplotlib picks the format from it). On any error or interrupt the temporary
    file is deleted and ``path`` is left as it was.
    """
    path = Path(path)
    with _refusals_as_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary, mode = _new_temporary(path, suffix)
        try:
            yield temporary
            os.chmod(temporary, mode)  # some writers recreate the file; keep the umask's mode
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def write_bytes(path: str | Path, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(payload)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"))


def write_all(payloads: Sequence[tuple[str | Path, bytes]]) -> None:
    """Write several files all or nothing: every payload to a temporary file first, then each renamed
    into place; if anything fails, the temporary files and the outputs already placed are removed."""
    staged: list[tuple[Path, int, Path]] = []
    placed: list[Path] = []
    try:
        for path, payload in payloads:
            with _refusals_as_write_errors(Path(path)):
                temporary, mode = _new_temporary(Path(path), ".tmp")
                staged.append((temporary, mode, Path(path)))
                temporary.write_bytes(payload)
        for temporary, mode, path in staged:
            with _refusals_as_write_errors(path):
                os.chmod(temporary, mode)
                os.replace(temporary, path)
            placed.append(path)
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        raise
    finally:
        for temporary, _, _ in staged:
            temporary.unlink(missing_ok=True)


def plain(value: Any) -> Any:
    """``value`` as plain JSON data: NumPy numbers as Python ones, NaN/inf as None, tuples and paths too."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # a NumPy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(value: Any, indent: int | None = 1) -> str:
    """fkd's JSON text: keys sorted, NaN as null (see :func:`plain`)."""
    return json.dumps(plain(value), indent=indent, sort_keys=True, allow_nan=False)


def write_json(path: str | Path, value: Any) -> Path:
    """Write ``value`` as JSON (:func:`to_json`) atomically; returns the path."""
    return write_text(path, to_json(value) + "\n")
