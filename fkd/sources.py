"""Where the data come from, and where fkd keeps what it derives from them.

Kept apart from :mod:`fkd.data` (which reads files) and :mod:`fkd.demo` (which
draws faces) so that neither has to import the other: this module decides, they
do the work.

* :func:`resolve_data` picks the data a command or notebook uses: the folder it
  is given, else ``./data`` when it holds Kaggle's files, else the synthetic demo
  faces (generated once).
* :func:`cache_dir` is the one folder for things fkd makes and can make again
  (the demo faces, parsed copies of training files). It does not depend on the
  working directory -- report kernels run in ``notebooks/``, commands wherever the
  user is -- and it is never beside the data, whose folder may be read-only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fkd.data import DataError, DataFiles, find_data

CACHE_ENV = "FKD_CACHE_DIR"
"""Set this environment variable to keep fkd's cache somewhere else (tests use a temporary folder)."""

DEFAULT_DATA = Path("data")
"""``fkd download`` puts Kaggle's files here, and every command looks here first."""


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


def demo_dir() -> Path:
    """Where the synthetic demo faces are generated: ``<cache>/demo``."""
    return cache_dir() / "demo"


def resolve_data(data: str | Path | None = None) -> DataFiles:
    """The data to use: ``data`` if given; else ``./data`` if it holds Kaggle's files;
    else synthetic demo data generated (once) in :func:`demo_dir`.

    The demo fallback is what lets a fresh clone run end to end; callers show a
    banner whenever ``DataFiles.demo`` is true.
    """
    if data is not None:
        return find_data(data)
    if DEFAULT_DATA.is_dir():
        try:
            return find_data(DEFAULT_DATA)
        except DataError:
            pass
    from fkd.demo import write_demo_data

    return find_data(write_demo_data(demo_dir()))
