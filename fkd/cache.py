"""fkd's cache folder, and the parse cache that lets a second load of a data file skip parsing.

* :func:`cache_dir` is the one folder for things fkd makes and can make again (the
  demo faces, parsed copies of data files). It does not depend on the working
  directory -- report kernels run in ``notebooks/``, commands wherever the user is --
  and it is never beside the data, whose folder may be read-only.
* :func:`load_parsed` / :func:`store_parsed` keep the arrays parsed from one data
  file in ``<cache>/parsed``, one ``.npz`` per source file. The key is the file's
  resolved path, size, modification time (ns) and inode, so checking it costs one
  ``stat`` and the text is never read (or hashed) again; what was derived from the text (its
  fingerprint) is stored beside the arrays. A changed file is parsed again and its
  entry replaced; an unreadable entry is ignored with one :class:`CacheWarning`.

Nothing here knows about faces: :mod:`fkd.data` says which arrays it stores.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fkd.atomic import atomic_path

CACHE_ENV = "FKD_CACHE_DIR"
"""Set this environment variable to keep fkd's cache somewhere else (tests use a temporary folder)."""
PARSED_FOLDER = "parsed"
"""Parsed data files live in ``<cache>/parsed``."""
PARSED_FORMAT = 1
"""Bump when what is stored changes, so entries written by older code are parsed again."""
_META = "meta"


class CacheWarning(UserWarning):
    """A cache entry that could not be read or written; fkd carries on without it."""


def cache_dir() -> Path:
    """``$FKD_CACHE_DIR``, else the platform's per-user cache folder plus ``fkd``.

    Linux: ``$XDG_CACHE_HOME/fkd`` or ``~/.cache/fkd``; macOS: ``~/Library/Caches/fkd``;
    Windows: ``%LOCALAPPDATA%\\fkd``.
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "fkd"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "fkd"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fkd"


def parsed_dir() -> Path:
    """Where parsed data files are kept: ``<cache>/parsed``."""
    return cache_dir() / PARSED_FOLDER


@dataclass(frozen=True)
class SourceKey:
    """What identifies one parse of one file: what was parsed, which file, and its size, mtime and inode."""

    kind: str
    """What was parsed, e.g. ``"training"``; one entry per kind and file."""
    path: str
    """The file's resolved path: the same file from any working directory has the same key."""
    size: int
    mtime_ns: int
    inode: int
    """Also the inode: a file replaced (written beside, then renamed, as fkd writes) within the same
    clock tick as the last write and at the same size still shows as changed."""

    @classmethod
    def of(cls, kind: str, path: str | Path) -> SourceKey:
        resolved = Path(path).resolve()
        stat = resolved.stat()
        return cls(kind, str(resolved), stat.st_size, stat.st_mtime_ns, stat.st_ino)

    @property
    def file(self) -> Path:
        """The cache entry for this kind and path (whatever the rest: a changed file's entry replaces the old)."""
        digest = hashlib.sha256(f"{self.kind}\0{self.path}".encode()).hexdigest()[:20]
        return parsed_dir() / f"{self.kind}-{digest}.npz"


Schema = Mapping[str, tuple[np.dtype, tuple[int, ...]]]
"""Array name -> (dtype, shape after the first axis); all arrays have the same length."""


_STACK_LEVEL = 5
"""Warnings point at the line that called the loader (fkd.data.load_training, say), four calls up."""


def _unusable(entry: Path, reason: str) -> None:
    warnings.warn(f"ignoring the unreadable parse cache entry {entry} ({reason}); parsing the file again",
                  CacheWarning, stacklevel=_STACK_LEVEL + 1)


def load_parsed(
    key: SourceKey, schema: Schema, notes: tuple[str, ...] = (),
) -> tuple[dict[str, np.ndarray], dict[str, str]] | None:
    """The arrays and notes stored for ``key``, or None when there is no entry for this exact file.

    An entry for another version of the file (other size, mtime or inode) is silently
    ignored; one that cannot be read, or lacks an array of ``schema`` (or has it in
    another dtype or shape) or one of the ``notes``, is ignored with a
    :class:`CacheWarning`. Either way the caller parses and stores again.
    """
    entry = key.file
    try:
        with open(entry, "rb") as handle, np.load(handle, allow_pickle=False) as stored:
            meta = json.loads(stored[_META].tobytes().decode("utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("its notes are not a JSON object")
            if meta.get("format") != PARSED_FORMAT or meta.get("key") != asdict(key):
                return None  # written by other code, or for another version of the file
            stored_notes = meta.get("notes")
            if not isinstance(stored_notes, dict) or not all(isinstance(stored_notes.get(n), str) for n in notes):
                raise ValueError(f"it does not note {', '.join(notes)}")
            arrays = {name: stored[name] for name in schema}
    except (FileNotFoundError, NotADirectoryError):
        return None
    except Exception as error:  # whatever a damaged file makes zipfile, zlib, numpy or json raise
        _unusable(entry, f"{type(error).__name__}: {error}".replace("\n", " "))
        return None
    for name, (dtype, shape) in schema.items():
        array = arrays[name]
        if array.dtype != dtype or array.shape[1:] != shape or array.ndim != 1 + len(shape):
            _unusable(entry, f"its {name} is {array.dtype} {array.shape}")
            return None
    if len({len(array) for array in arrays.values()}) > 1:
        _unusable(entry, "its arrays differ in length")
        return None
    return arrays, stored_notes


def store_parsed(key: SourceKey, arrays: Mapping[str, np.ndarray], notes: Mapping[str, str]) -> None:
    """Store ``arrays`` and ``notes`` for ``key``, replacing any older entry, atomically.

    A cache that cannot be written (a full disk, a read-only home) costs the next
    load a parse, nothing more: it is reported with a :class:`CacheWarning`.
    """
    entry = key.file
    meta = json.dumps({"format": PARSED_FORMAT, "key": asdict(key), "notes": dict(notes)}).encode("utf-8")
    try:
        with atomic_path(entry, suffix=".npz") as temporary, open(temporary, "wb") as handle:
            np.savez(handle, **arrays, **{_META: np.frombuffer(meta, dtype=np.uint8)})
    except OSError as error:
        warnings.warn(f"could not write the parse cache entry {entry} ({error}); the next load parses again",
                      CacheWarning, stacklevel=_STACK_LEVEL)
