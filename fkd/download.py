"""``fkd download``: fetch the competition files with the user's Kaggle credentials.

The competition data cannot be redistributed, so fkd never ships it; Kaggle's own
client fetches it for users who have accepted the competition's rules. The
download is checked to be the expected files before it is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from fkd.data import DataError, find_data, load_lookup

COMPETITION = "facial-keypoints-detection"
SETUP_HELP = (
    "To download Kaggle's data: `pip install kaggle`; create an API token at "
    "kaggle.com (Settings > API > Create New Token) and save it as ~/.kaggle/kaggle.json "
    "(chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY; accept the rules at "
    f"kaggle.com/c/{COMPETITION}/rules; then run `fkd download` again. Or download "
    "the files by hand and pass their folder with --data."
)


class DownloadError(DataError):
    """The download could not be done; the message says how to fix it."""


def _colab_secrets() -> None:
    """On Colab, copy KAGGLE_USERNAME and KAGGLE_KEY from its secrets into the environment, where kaggle looks."""
    try:
        from google.colab import userdata  # only exists on Colab
    except ImportError:
        return
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY"):
        if not os.environ.get(name):
            try:
                os.environ[name] = userdata.get(name)
            except Exception:  # a secret that is missing or not shared with this notebook
                return


def has_credentials() -> bool:
    """Whether the Kaggle client will find credentials: environment, Colab's secrets, or kaggle.json."""
    _colab_secrets()
    config_dir = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle"))
    env = os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY")
    return bool(env) or (config_dir / "kaggle.json").is_file()


def download(dest: str | Path | None = None) -> Path:
    """Download and verify the competition files into ``dest`` (default :func:`fkd.sources.download_dir`,
    where every command looks for them); returns the folder."""
    from fkd.sources import download_dir

    dest = Path(dest) if dest is not None else download_dir()
    if not has_credentials():
        raise DownloadError(f"no Kaggle credentials found. {SETUP_HELP}")
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError:
        raise DownloadError(f"the `kaggle` package is not installed. {SETUP_HELP}") from None
    dest.mkdir(parents=True, exist_ok=True)
    try:
        api = KaggleApi()
        api.authenticate()
        api.competition_download_files(COMPETITION, path=str(dest), quiet=False)
    except Exception as error:  # the client raises many types: network, HTTP 401/403, config
        raise DownloadError(f"Kaggle download failed ({error}). Are you online? {SETUP_HELP}") from None
    files = find_data(dest)  # extracts the competition zip safely and checks its members
    if files.test is None or files.lookup is None:
        raise DownloadError("the download lacks test.zip or IdLookupTable.csv", file=files.root)
    load_lookup(files.lookup)
    return files.root
