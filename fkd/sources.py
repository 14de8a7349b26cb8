"""Where the data come from, and where fkd keeps what it derives from them.

Kept apart from :mod:`fkd.data` (which reads files) and :mod:`fkd.demo` (which
draws faces) so that neither has to import the other: this module decides, they
do the work.

* :func:`resolve_data` picks the data a command or notebook uses: the folder it
  is given, else ``./data`` when it holds Kaggle's files, else the synthetic demo
  faces (generated once).
* :func:`demo_dir` is where the demo faces go, inside :func:`fkd.cache.cache_dir`
  (the one folder for things fkd makes and can make again).
"""

from __future__ import annotations

from pathlib import Path

from fkd.cache import cache_dir
from fkd.data import DataError, DataFiles, find_data

DEFAULT_DATA = Path("data")
"""``fkd download`` puts Kaggle's files here, and every command looks here first."""


def demo_dir() -> Path:
    """Where the synthetic demo faces are generated: ``<cache>/demo``."""
    return cache_dir() / "demo"


def resolve_data(data: str | Path | None = None, download: bool = False) -> DataFiles:
    """The data to use: ``data`` if given; else ``./data`` if it holds Kaggle's files; else, with
    ``download`` and Kaggle credentials at hand (environment or Colab's secrets), Kaggle's files
    fetched into ``./data``; else synthetic demo data generated (once) in :func:`demo_dir`.

    The demo fallback is what lets a fresh clone run end to end; callers show a
    banner whenever ``DataFiles.demo`` is true. Notebooks pass ``download=True``, so
    one opened on Colab with Kaggle credentials works on the real faces.
    """
    if data is not None:
        return find_data(data)
    if DEFAULT_DATA.is_dir():
        try:
            return find_data(DEFAULT_DATA)
        except DataError:
            pass
    if download:
        from fkd.download import download as fetch, has_credentials

        if has_credentials():
            return find_data(fetch(DEFAULT_DATA))
    from fkd.demo import write_demo_data

    return find_data(write_demo_data(demo_dir()))
