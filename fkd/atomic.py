"""Writing files so that nobody ever sees half of one: write beside the target, then rename.

Every file fkd writes -- data files, run records, models, submissions, figures,
benchmark results, cached data -- goes through :func:`atomic_path` (or the
helpers built on it). A killed process leaves either the old file or the new one,
never a truncated mix, and its temporary file is removed on the way out.

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
import json
import math
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fkd.errors import FkdError


class DestinationError(FkdError, ValueError):
    """An output path that cannot be written: its folder is missing, or it is a folder itself."""


def check_destination(path: str | Path, what: str = "output") -> Path:
    """Refuse, before any work is done, an output file whose folder is missing or which is a folder."""
    path = Path(path)
    if path.is_dir():
        raise DestinationError(f"{path}: is a folder; give a file name for the {what}")
    if not path.parent.is_dir():
        raise DestinationError(f"{path.parent}: the folder for the {what} does not exist")
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
            temporary, mode = _new_temporary(Path(path), ".tmp")
            staged.append((temporary, mode, Path(path)))
            temporary.write_bytes(payload)
        for temporary, mode, path in staged:
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
