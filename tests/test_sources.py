"""Where the data come from: an explicit folder, ./data, Kaggle's files fetched with credentials, or demo faces."""

from __future__ import annotations

from pathlib import Path

import pytest

import fkd.download
from fkd.data import write_test_csv, write_training_csv
from fkd.sources import demo_dir, download_dir, resolve_data
from tests.helpers import tiny_faces


def test_with_nothing_at_hand_the_demo_faces_are_made_in_the_cache_whatever_the_folder(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    files = resolve_data()
    monkeypatch.chdir(second)
    assert files.demo and files.root == demo_dir() == resolve_data().root
    assert not list(first.iterdir()) and not list(second.iterdir())  # nothing written where the user stands


def test_a_data_folder_in_the_working_directory_is_picked_up(tmp_path, monkeypatch):
    images, keypoints = tiny_faces()
    write_training_csv(tmp_path / "data" / "training.csv", images, keypoints)
    monkeypatch.chdir(tmp_path)
    files = resolve_data()
    assert not files.demo and files.root == Path("data")


def _fake_download(dest: Path) -> Path:
    images, keypoints = tiny_faces()
    write_training_csv(Path(dest) / "training.csv", images, keypoints)
    write_test_csv(Path(dest) / "test.csv", [1], images[:1])
    return Path(dest)


def test_notebooks_fetch_kaggles_files_when_credentials_are_there(tmp_path, monkeypatch):
    monkeypatch.setenv("FKD_CACHE_DIR", str(tmp_path / "cache"))  # this test's own cache: it fills download_dir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fkd.download, "has_credentials", lambda: True)
    monkeypatch.setattr(fkd.download, "download", _fake_download)
    assert resolve_data().demo  # commands never download on their own
    files = resolve_data(download=True)
    assert not files.demo and files.root == download_dir() and (download_dir() / "training.csv").is_file()
    assert [path.name for path in tmp_path.iterdir()] == ["cache"]  # nothing written where the kernel stands


def test_what_fkd_download_fetched_is_found_from_any_working_directory(tmp_path, monkeypatch):
    # `fkd download` run from the repository's root, a notebook kernel started in notebooks/: one folder
    monkeypatch.setenv("FKD_CACHE_DIR", str(tmp_path / "cache"))
    _fake_download(download_dir())
    for folder in (tmp_path, tmp_path / "notebooks"):
        folder.mkdir(exist_ok=True)
        monkeypatch.chdir(folder)
        files = resolve_data()
        assert not files.demo and files.root == download_dir()


def test_without_credentials_a_notebook_falls_back_to_the_demo_faces(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fkd.download, "has_credentials", lambda: False)
    monkeypatch.setattr(fkd.download, "download", lambda dest: pytest.fail("must not download"))
    assert resolve_data(download=True).demo
