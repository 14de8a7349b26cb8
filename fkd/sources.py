"""Where the data come from, and where fkd keeps what it derives from them.

Kept apart from :mod:`fkd.data` (which reads files) and :mod:`fkd.demo` (which
draws faces) so that neither has to import the other: this module decides, they
do the work.

* :func:`resolve_data` picks the data a command or notebook uses: the folder it
  is given, else ``./data`` when it holds Kaggle's files, else what ``fkd
  download`` fetched (:func:`download_dir`), else the synthetic demo faces
  (generated once).
* :func:`download_dir` and :func:`demo_dir` are where downloaded and demo faces
  go, inside :func:`fkd.cache.cache_dir` (the one folder for things fkd makes
  and can fetch or make again). Neither depends on the working directory, so a
  notebook kernel started in ``notebooks/`` finds the same data as ``fkd report``
  run from the repository's root.
"""

from __future__ import annotations

from pathlib import Path

from fkd.cache import cache_dir
from fkd.data import DataError, DataFiles, find_data

DEFAULT_DATA = Path("data")
"""A folder of Kaggle's files the user put in the working directory: every command looks here first."""


def download_dir() -> Path:
    """Where ``fkd download`` puts Kaggle's files by default: ``<cache>/kaggle``, whatever the working directory."""
    return cache_dir() / "kaggle"


def demo_dir() -> Path:
    """Where the synthetic demo faces are generated: ``<cache>/demo``."""
    return cache_dir() / "demo"


def resolve_data(data: str | Path | None = None, download: bool = False) -> DataFiles:
    """The data to use: ``data`` if given; else ``./data`` if it holds Kaggle's files; else
    :func:`download_dir` if ``fkd download`` filled it; else, with ``download`` and Kaggle credentials
    at hand (environment or Colab's secrets), Kaggle's files fetched into :func:`download_dir`; else
    synthetic demo data generated (once) in :func:`demo_dir`.

    The demo fallback is what lets a fresh clone run end to end; callers show a
    banner whenever ``DataFiles.demo`` is true. Notebooks pass ``download=True``, so
    one opened on Colab with Kaggle credentials works on the real faces.
    """
    if data is not None:
        return find_data(data)
    for folder in (DEFAULT_DATA, download_dir()):
        if folder.is_dir():
            try:
                return find_data(folder)
            except DataError:
                pass
    if download:
        from fkd.download import download as fetch, has_credentials

        if has_credentials():
            return find_data(fetch(download_dir()))
    from fkd.demo import write_demo_data

    return find_data(write_demo_data(demo_dir()))
