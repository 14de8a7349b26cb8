"""The parse cache: a second load of an unchanged file reads the arrays back, from any working
directory; a changed file is parsed again; a broken entry is ignored; nothing goes beside the data."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import fkd.sources
from fkd import cache, data
from fkd.cache import CacheWarning, SourceKey, cache_dir, parsed_dir
from fkd.data import load_test, load_training, write_test_csv, write_training_csv
from tests.helpers import tiny_faces


@pytest.fixture
def cache_folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("FKD_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def training_zip(tmp_path) -> Path:
    path = tmp_path / "data" / "training.zip"
    write_training_csv(path, *tiny_faces())
    return path


def _no_parsing(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("parsed although the cache holds the file")

    monkeypatch.setattr(data, "_parse_training", fail)
    monkeypatch.setattr(data, "_parse_test", fail)


def _assert_same(a, b) -> None:
    assert (a.source, a.fingerprint) == (b.source, b.fingerprint)
    for name in ("images", "keypoints", "image_ids"):
        if hasattr(a, name):
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and x.shape == y.shape
            np.testing.assert_array_equal(x, y)


def test_second_load_reads_the_cache_not_the_file(cache_folder, training_zip, monkeypatch):
    first = load_training(training_zip)
    _no_parsing(monkeypatch)
    second = load_training(training_zip)
    _assert_same(first, second)
    assert second.images.dtype == np.uint8 and second.keypoints.dtype == np.float32
    assert [p.parent for p in cache_folder.rglob("*.npz")] == [cache_folder / "parsed"]


def test_cache_is_found_from_another_working_directory_and_spelling(cache_folder, training_zip, monkeypatch):
    monkeypatch.chdir(training_zip.parent.parent)
    first = load_training(Path("data"))
    assert first.source == str(Path("data") / "training.zip") + ":training.csv"
    _no_parsing(monkeypatch)
    elsewhere = training_zip.parent.parent / "notebooks"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    again = load_training(Path("..") / "data" / "training.zip")
    assert again.source == str(Path("..") / "data" / "training.zip") + ":training.csv"  # as a parse would name it
    assert again.fingerprint == first.fingerprint
    np.testing.assert_array_equal(again.images, first.images)


def test_changed_file_is_parsed_again(cache_folder, tmp_path):
    path = tmp_path / "training.csv"
    images, keypoints = tiny_faces()
    write_training_csv(path, images, keypoints)
    before = load_training(path)
    mtime = path.stat().st_mtime_ns
    write_training_csv(path, 255 - images, keypoints)
    os.utime(path, ns=(mtime + 10**9, mtime + 10**9))
    after = load_training(path)
    np.testing.assert_array_equal(after.images, 255 - images)
    assert after.fingerprint != before.fingerprint
    assert len(list(cache_folder.rglob("*.npz"))) == 1  # the entry was replaced, not added to


def test_only_the_mtime_changing_is_a_change_too(cache_folder, tmp_path, monkeypatch):
    path = tmp_path / "training.csv"
    write_training_csv(path, *tiny_faces())
    load_training(path)
    calls = []
    parse = data._parse_training
    monkeypatch.setattr(data, "_parse_training", lambda p: calls.append(p) or parse(p))
    mtime = path.stat().st_mtime_ns
    os.utime(path, ns=(mtime + 1, mtime + 1))
    load_training(path)
    load_training(path)
    assert calls == [path]


def test_corrupt_cache_entry_warns_once_and_is_rewritten(cache_folder, training_zip, monkeypatch):
    first = load_training(training_zip)
    (entry,) = cache_folder.rglob("*.npz")
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    with pytest.warns(CacheWarning) as caught:
        second = load_training(training_zip)
    assert len(caught) == 1 and "\n" not in str(caught[0].message) and str(entry) in str(caught[0].message)
    _assert_same(first, second)
    _no_parsing(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_same(first, load_training(training_zip))


@pytest.mark.parametrize("damage", ["garbage", "flipped-byte", "wrong-dtype"])
def test_any_broken_entry_is_ignored_with_a_warning(cache_folder, training_zip, damage):
    first = load_training(training_zip)
    (entry,) = cache_folder.rglob("*.npz")
    if damage == "garbage":
        entry.write_bytes(b"not a cache entry")
    elif damage == "flipped-byte":
        payload = bytearray(entry.read_bytes())
        payload[len(payload) // 2] ^= 0xFF  # inside the images: the zip's CRC catches it
        entry.write_bytes(bytes(payload))
    else:
        with np.load(entry) as stored:
            arrays = dict(stored)
        arrays["images"] = arrays["images"].astype(np.int16)
        with open(entry, "wb") as handle:
            np.savez(handle, **arrays)
    with pytest.warns(CacheWarning):
        _assert_same(first, load_training(training_zip))


def test_nothing_is_written_beside_the_data(cache_folder, training_zip):
    folder = training_zip.parent
    listing = sorted(folder.iterdir())
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        first = load_training(training_zip)
        second = load_training(folder)
        assert sorted(folder.iterdir()) == listing
    finally:
        folder.chmod(stat.S_IRWXU)
    _assert_same(first, second)
    assert len(list((cache_folder / "parsed").iterdir())) == 1


def test_cache_false_reads_and_writes_no_cache(cache_folder, training_zip, monkeypatch):
    load_training(training_zip, cache=False)
    assert not cache_folder.exists()
    load_training(training_zip)
    monkeypatch.setattr(cache, "load_parsed", lambda *a, **k: pytest.fail("read the cache"))
    assert len(load_training(training_zip, cache=False)) == 6


def test_test_files_are_cached_too(cache_folder, kaggle_dir, monkeypatch):
    first = load_test(kaggle_dir)
    _no_parsing(monkeypatch)
    second = load_test(kaggle_dir / "test.csv")
    _assert_same(first, second)
    assert second.image_ids.dtype == np.int64 and second.image_ids.tolist() == [1, 2, 3]


def test_training_and_test_from_one_file_do_not_mix(cache_folder, tmp_path):
    images, _ = tiny_faces()
    write_test_csv(tmp_path / "test.zip", np.arange(1, 7), images)
    assert len(load_test(tmp_path / "test.zip")) == 6
    with pytest.raises(data.DataError, match="missing column"):
        load_training(tmp_path / "test.zip")


def test_unwritable_cache_costs_a_warning_not_the_data(tmp_path, training_zip, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("FKD_CACHE_DIR", str(blocker))
    with pytest.warns(CacheWarning, match="could not write"):
        loaded = load_training(training_zip)
    assert len(loaded) == 6


def test_cache_key_is_the_resolved_path_size_and_mtime(tmp_path, monkeypatch):
    path = tmp_path / "training.csv"
    path.write_text("x")
    monkeypatch.chdir(tmp_path)
    key = SourceKey.of("training", "training.csv")
    status = path.stat()
    assert (key.path, key.size, key.mtime_ns) == (str(path.resolve()), 1, status.st_mtime_ns)
    assert key.file.parent == parsed_dir()


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FKD_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine" and parsed_dir() == tmp_path / "mine" / "parsed"
    monkeypatch.delenv("FKD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert cache_dir() == tmp_path / "xdg" / "fkd"
    assert fkd.sources.cache_dir is cache_dir and fkd.sources.demo_dir() == cache_dir() / "demo"


def test_fkd_data_does_not_import_fkd_sources():
    code = "import sys, fkd.data; sys.exit('fkd.sources' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
