"""Loading Kaggle-layout files: round trips, layouts, and one clear message per kind of bad input."""

from __future__ import annotations

import re
import hashlib
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fkd import data
from fkd.data import (
    DataError, extract_competition_zip, find_data, load_lookup, load_test, load_training,
    write_training_csv,
)
from fkd.keypoints import COORDINATE_COLUMNS
from tests.helpers import tiny_faces

HEADER = ",".join(COORDINATE_COLUMNS) + ",Image\n"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    """Every test here keeps fkd's cache (parsed files) in a temporary folder, never the user's."""
    monkeypatch.setenv("FKD_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def _row(coords: str = ",".join(["48.0"] * 30), pixels: str | None = None) -> str:
    return f"{coords},{pixels if pixels is not None else ' '.join(['7'] * 9216)}\n"


def _error(tmp_path: Path, text: str | bytes, name: str = "training.csv") -> DataError:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DataError) as caught:
        load_training(path, cache=False)
    return caught.value


def test_training_csv_round_trips_images_and_missing_keypoints(tmp_path):
    images, keypoints = tiny_faces()
    write_training_csv(tmp_path / "training.csv", images, keypoints)
    loaded = load_training(tmp_path / "training.csv")
    assert loaded.images.dtype == np.uint8 and loaded.images.shape == (6, 96, 96)
    np.testing.assert_array_equal(loaded.images, images)
    np.testing.assert_allclose(loaded.keypoints, keypoints, atol=1e-5)
    assert np.isnan(loaded.keypoints[1, 12:20]).all()
    assert loaded.complete.tolist() == [True, False, True, True, True, True]


def test_zip_and_csv_give_the_same_data_and_fingerprint(tmp_path):
    images, keypoints = tiny_faces()
    write_training_csv(tmp_path / "a" / "training.csv", images, keypoints)
    write_training_csv(tmp_path / "b" / "training.zip", images, keypoints)
    from_csv, from_zip = load_training(tmp_path / "a"), load_training(tmp_path / "b")
    np.testing.assert_array_equal(from_csv.images, from_zip.images)
    assert from_csv.fingerprint == from_zip.fingerprint


def test_find_data_locates_loose_files(kaggle_dir):
    files = find_data(kaggle_dir)
    assert files.training.name == "training.csv" and files.test.name == "test.csv"
    assert files.lookup.name == "IdLookupTable.csv" and not files.demo
    test = load_test(files)
    assert test.image_ids.tolist() == [1, 2, 3] and test.images.shape == (3, 96, 96)


def test_find_data_unpacks_the_competition_zip(kaggle_dir, tmp_path):
    bundle_dir = tmp_path / "download"
    bundle_dir.mkdir()
    write_training_csv(kaggle_dir / "training.zip", *tiny_faces())
    with zipfile.ZipFile(bundle_dir / "facial-keypoints-detection.zip", "w") as bundle:
        for name in ("training.zip", "IdLookupTable.csv", "test.csv"):
            bundle.write(kaggle_dir / name, name)
    files = find_data(bundle_dir)
    assert files.training.name == "training.zip" and files.lookup is not None
    assert len(load_training(files)) == 6


def test_archive_members_with_paths_are_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("../../escape.csv", "x")
    with pytest.raises(DataError, match="has a path"):
        extract_competition_zip(archive, tmp_path / "out")
    assert not (tmp_path.parent / "escape.csv").exists()


def _refuse_to_unpack(monkeypatch) -> None:
    """Make any attempt to unpack a zip member fail the test."""
    def fail(*args, **kwargs):
        raise AssertionError("a member over the size limit was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", fail)
    monkeypatch.setattr(zipfile.ZipFile, "read", fail)


def test_zip_member_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    write_training_csv(tmp_path / "training.zip", *tiny_faces())
    size = zipfile.ZipFile(tmp_path / "training.zip").getinfo("training.csv").file_size
    monkeypatch.setattr(data, "MAX_MEMBER_BYTES", size - 1)
    _refuse_to_unpack(monkeypatch)
    with pytest.raises(DataError) as caught:
        load_training(tmp_path / "training.zip")
    message = str(caught.value)
    assert caught.value.file == str(tmp_path / "training.zip")
    assert "'training.csv'" in message and f"{size:,} bytes" in message and f"{size - 1:,}-byte limit" in message


def test_zip_member_at_the_size_limit_is_read(tmp_path, monkeypatch):
    write_training_csv(tmp_path / "training.zip", *tiny_faces())
    size = zipfile.ZipFile(tmp_path / "training.zip").getinfo("training.csv").file_size
    monkeypatch.setattr(data, "MAX_MEMBER_BYTES", size)
    assert len(load_training(tmp_path / "training.zip")) == 6


def test_competition_zip_member_over_the_size_limit_is_not_extracted(kaggle_dir, tmp_path, monkeypatch):
    bundle = tmp_path / "facial-keypoints-detection.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.write(kaggle_dir / "training.csv", "training.csv")
    monkeypatch.setattr(data, "MAX_MEMBER_BYTES", 1000)
    _refuse_to_unpack(monkeypatch)
    with pytest.raises(DataError, match=r"'training.csv' would unpack to [\d,]+ bytes .* 1,000-byte limit"):
        extract_competition_zip(bundle, tmp_path / "out")
    assert not (tmp_path / "out" / "training.csv").exists()


def test_lookup_table_reads_kaggles_own_file():
    from tests.helpers import SHARED_DATA

    path = SHARED_DATA / "kaggle-format" / "IdLookupTable.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found: the shared data sits beside the repository in CI")
    lookup = load_lookup(path)
    assert len(lookup) == 27124 and lookup["RowId"].tolist()[:3] == [1, 2, 3]


def test_faces15_loads_in_seconds_with_its_missing_pattern(faces15):
    start = time.perf_counter()
    dataset = load_training(faces15)
    assert time.perf_counter() - start < 30  # a sanity bound, not a benchmark
    assert dataset.images.shape == (3242, 96, 96)
    assert dataset.complete.sum() == 1283


# --- bad input: one message naming file, line and column -----------------------------

@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        (HEADER + _row(pixels=" ".join(["7"] * 9215)), 2, "Image", "found 9215"),
        (HEADER + _row() + _row(pixels=" ".join(["7"] * 9217)), 3, "Image", "found 9217"),
        (HEADER + _row(pixels="7 abc " + " ".join(["7"] * 9214)), 2, "Image", "pixel 2 is 'abc'"),
        (HEADER + _row(pixels="7 300 " + " ".join(["7"] * 9214)), 2, "Image", "pixel 2 is 300"),
        (HEADER + _row(pixels="7 -3 " + " ".join(["7"] * 9214)), 2, "Image", "pixel 2 is -3"),
        (HEADER + _row(pixels=""), 2, "Image", "empty"),
        (HEADER + _row(coords="abc," + ",".join(["48"] * 29)), 2, "left_eye_center_x", "'abc'"),
        (HEADER + _row(coords="500," + ",".join(["48"] * 29)), 2, "left_eye_center_x", "far outside"),
        (HEADER + _row() + HEADER, 3, "left_eye_center_x", "expected a number"),
        (HEADER + _row() + _row()[:5000], 3, "Image", "truncated"),
    ],
    ids=["too-few-pixels", "too-many-pixels", "text-pixel", "pixel-over-255", "negative-pixel",
         "empty-image", "text-coordinate", "far-coordinate", "duplicated-header", "truncated-last-row"],
)
def test_bad_rows_name_file_line_and_column(tmp_path, text, line, column, words):
    error = _error(tmp_path, text)
    assert error.file.endswith("training.csv")
    assert (error.row, error.column) == (line, column)
    assert words in str(error)
    assert f"line {line}" in str(error) and column in str(error)


def test_missing_column_is_named(tmp_path):
    error = _error(tmp_path, HEADER.replace("nose_tip_x", "nose_x") + _row())
    assert "missing column(s) nose_tip_x; unexpected: nose_x" in str(error) and error.row == 1


def test_empty_and_header_only_files_are_refused(tmp_path):
    assert "empty" in str(_error(tmp_path, ""))
    assert "no data rows" in str(_error(tmp_path, HEADER))


def test_bom_and_crlf_line_ends_are_accepted(tmp_path):
    text = ("\ufeff" + HEADER + _row()).replace("\n", "\r\n")
    (tmp_path / "training.csv").write_bytes(text.encode())
    assert load_training(tmp_path / "training.csv").images[0, 0, 0] == 7


def test_corrupt_zip_and_zip_without_member_are_refused(tmp_path):
    assert "not a readable zip" in str(_error(tmp_path, b"PK\x03\x04 garbage", "training.zip"))
    with zipfile.ZipFile(tmp_path / "training.zip", "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(DataError, match="holds no training.csv"):
        load_training(tmp_path / "training.zip")


def test_folder_without_kaggle_files_says_what_it_expected(tmp_path):
    with pytest.raises(DataError, match="training.csv or training.zip"):
        find_data(tmp_path)


def test_lookup_with_unknown_feature_is_refused(tmp_path):
    path = tmp_path / "IdLookupTable.csv"
    path.write_text("RowId,ImageId,FeatureName,Location\n1,1,nose_tip_x,\n2,1,chin_x,\n")
    with pytest.raises(DataError) as caught:
        load_lookup(path)
    assert (caught.value.row, caught.value.column) == (3, "FeatureName")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.integers(0, 9300).filter(lambda n: n != 9216),
    junk=st.text(alphabet="0123456789 .-x", min_size=0, max_size=5),
)
def test_any_malformed_pixel_row_gives_a_data_error_never_a_crash(tmp_path, count, junk):
    pixels = " ".join(["1"] * count) + junk
    error = _error(tmp_path, HEADER + _row() + _row(pixels=pixels))
    assert error.row == 3 and error.column == "Image"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(
    st.text(min_size=1, max_size=8).filter(lambda s: "," not in s and "\n" not in s and "\r" not in s and '"' not in s),
    st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{1,3})?", fullmatch=True),
))
def test_any_coordinate_text_is_accepted_as_a_number_or_named_as_bad(tmp_path, value):
    path = tmp_path / "training.csv"
    path.write_text(HEADER + _row(coords=value + "," + ",".join(["48"] * 29)), encoding="utf-8")
    plain = re.fullmatch(r"\s*-?[0-9]{1,3}(\.[0-9]+)?\s*", value)
    in_frame = plain is not None and -16 <= float(value) <= 96 + 16
    try:
        loaded = load_training(path, cache=False)  # (rewritten within one clock tick, at one size)
    except DataError as error:
        assert not in_frame, f"the plain number {value!r} was refused: {error}"
        assert error.file.endswith("training.csv") and (error.row, error.column) == (2, "left_eye_center_x")
    else:
        if plain is not None:
            assert loaded.keypoints[0, 0] == pytest.approx(float(value))
        elif not value.strip():
            assert np.isnan(loaded.keypoints[0, 0])  # an empty cell is a missing label
        assert loaded.keypoints.shape == (1, 30)


# --- the plain splitter reads Kaggle's files itself, and agrees with pandas' path ------------

_SEVEN = " ".join(["7"] * 9216)
_COORDS = ",".join(["48.0"] * 30)


def _outcome(path: Path, loader=load_training):
    """What loading ``path`` gives: its arrays and fingerprint, or the error's message."""
    try:
        loaded = loader(path, cache=False)
    except DataError as error:
        return str(error)
    arrays = {k: v for k, v in vars(loaded).items() if isinstance(v, np.ndarray)}
    return arrays, loaded.source, loaded.fingerprint


def _same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a[1:] == b[1:] and a[0].keys() == b[0].keys() and all(
        np.array_equal(a[0][k], b[0][k], equal_nan=a[0][k].dtype.kind == "f") for k in a[0])


_AGREE = {
    "kaggle-layout": HEADER + _row() + _row(pixels=" ".join(str(v % 256) for v in range(9216))),
    "no-final-newline": HEADER + _row() + _row()[:-1],
    "image-first": "Image," + HEADER[:-7] + "\n" + f"{_SEVEN},{_COORDS}\n" * 2,
    "image-in-the-middle": ",".join([*COORDINATE_COLUMNS[:4], "Image", *COORDINATE_COLUMNS[4:]]) + "\n"
    + ",".join(["48"] * 4 + [_SEVEN] + ["48"] * 26) + "\n",
    "location-column": HEADER[:-1] + ",Location\n" + _row()[:-1] + ",x\n",
    "spaces-around-names-and-values": HEADER.replace("nose_tip_x", " nose_tip_x ") + _row(coords=" 1 ," * 29 + "2"),
    "tabs-and-runs-of-spaces": HEADER + _row(pixels="  " + _SEVEN.replace(" ", "\t", 50).replace(" ", "   ", 50) + " "),
    "leading-zeros": HEADER + _row(pixels="007 " + " ".join(["255"] * 9215)),
    "four-digits": HEADER + _row(pixels="0255 " + " ".join(["1"] * 9215)),
    "missing-keypoints": HEADER + _row(coords=",".join([""] * 10 + ["48"] * 20)),
    "trailing-empty-row": HEADER + _row() + "," * 30 + "\n",
    "only-an-empty-row": HEADER + "," * 30 + "\n",
    "blank-line": HEADER + _row() + "\n" + _row(),
    "quoted-field": HEADER + _row(coords='"48",' + ",".join(["48"] * 29)),
    "ragged-long-row": HEADER + _row(coords=_COORDS + ",48"),
    "ragged-short-row": HEADER + _row(coords=",".join(["48"] * 29)),
    "lone-cr": HEADER + _row().replace("\n", "\r"),
    "duplicate-column": HEADER.replace("nose_tip_x", "nose_tip_y"),
    "header-only-no-newline": HEADER[:-1],
    "two-errors-in-a-group": HEADER + _row(pixels="7 300 " + " ".join(["7"] * 9214)) + _row() + _row(pixels="7"),
    "error-in-the-second-group": HEADER + _row() * 259 + _row(pixels=_SEVEN + " 7"),
    "non-ascii-coordinate": HEADER + _row(coords="4\u00e9," + ",".join(["48"] * 29)),
    "non-ascii-pixel": HEADER + _row(pixels="\u00e9 " + " ".join(["7"] * 9215)),
    "nul-byte": HEADER + _row(pixels="\0" + _SEVEN),
}


@pytest.mark.parametrize("text", _AGREE.values(), ids=_AGREE.keys())
def test_plain_splitter_and_pandas_agree_on_data_and_errors(tmp_path, monkeypatch, text):
    path = tmp_path / "training.csv"
    path.write_text(text, encoding="utf-8")
    plain = _outcome(path)
    monkeypatch.setattr(data._PlainSplit, "finish", lambda self, name: None)  # pandas reads every file
    assert _same(plain, _outcome(path))


def test_test_files_agree_too(kaggle_dir, monkeypatch):
    plain = _outcome(kaggle_dir / "test.csv", load_test)
    monkeypatch.setattr(data._PlainSplit, "finish", lambda self, name: None)
    assert _same(plain, _outcome(kaggle_dir / "test.csv", load_test)) and not isinstance(plain, str)


def test_kaggles_layout_is_split_without_pandas_reading_it(tmp_path, monkeypatch):
    write_training_csv(tmp_path / "training.zip", *tiny_faces())
    monkeypatch.setattr(data.pd, "read_csv", lambda *a, **k: pytest.fail("pandas read the file"))
    assert len(load_training(tmp_path / "training.zip")) == 6


def test_fingerprint_is_the_hash_of_the_text_without_bom_or_crlf(tmp_path):
    text = (HEADER + _row() + _row(pixels=_SEVEN.replace("7", "8"))).encode()
    (tmp_path / "plain.csv").write_bytes(text)
    (tmp_path / "windows.csv").write_bytes(b"\xef\xbb\xbf" + text.replace(b"\n", b"\r\n"))
    plain, windows = (load_training(tmp_path / name, cache=False) for name in ("plain.csv", "windows.csv"))
    assert plain.fingerprint == windows.fingerprint == hashlib.sha256(text).hexdigest()[:16]
    np.testing.assert_array_equal(plain.images, windows.images)


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no-bom", "bom"])
def test_text_that_is_not_utf8_names_the_byte(tmp_path, bom):
    text = bom + (HEADER + _row()).encode() + b"\xff" + _row().encode()
    error = _error(tmp_path, text)
    assert str(error) == f"{tmp_path / 'training.csv'}: not UTF-8 text (byte {len(HEADER) + len(_row())})"


def test_parsing_needs_less_than_three_times_the_files_size(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, size=(300, 96, 96), dtype=np.uint8)
    keypoints = np.full((300, 30), 48.0, dtype=np.float32)
    write_training_csv(tmp_path / "training.csv", images, keypoints)
    size = (tmp_path / "training.csv").stat().st_size
    tracemalloc.start()
    try:
        loaded = load_training(tmp_path / "training.csv", cache=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(loaded.images, images)
    assert peak < 3 * size, f"peak {peak / size:.2f} x the file's {size:,} bytes"


def test_zip_whose_data_fails_its_crc_is_refused(tmp_path):
    write_training_csv(tmp_path / "training.csv", *tiny_faces())
    with zipfile.ZipFile(tmp_path / "training.zip", "w", compression=zipfile.ZIP_STORED) as archive:
        archive.write(tmp_path / "training.csv", "training.csv")
    payload = bytearray((tmp_path / "training.zip").read_bytes())
    payload[len(payload) // 2] ^= 0x01  # a pixel digit, inside the stored member
    (tmp_path / "training.zip").write_bytes(bytes(payload))
    with pytest.raises(DataError, match="not a readable zip archive .*CRC"):
        load_training(tmp_path / "training.zip", cache=False)


def test_the_reading_thread_is_stopped_when_parsing_fails(tmp_path, monkeypatch):
    images = np.zeros((200, 96, 96), dtype=np.uint8)
    write_training_csv(tmp_path / "training.csv", images, np.full((200, 30), 48.0, dtype=np.float32))
    monkeypatch.setattr(data, "_READ_PIECE", 4096)  # many pieces: the parse fails while reading goes on

    def fail(self, available, final=False):
        raise RuntimeError("parsing failed")

    monkeypatch.setattr(data._PlainSplit, "feed", fail)
    with pytest.raises(RuntimeError, match="parsing failed"):
        load_training(tmp_path / "training.csv", cache=False)
    assert not [t for t in threading.enumerate() if t.name == "fkd-read"]


def _study_parse_numbers(frame, columns, name):
    """fkd.data._parse_numbers as the study wrote it, with pandas' string methods: the reference."""
    import pandas as pd

    values = np.empty((len(frame), len(columns)), dtype=np.float32)
    for j, column in enumerate(columns):
        raw = frame[column].str.strip()
        numbers = pd.to_numeric(raw.where(raw != ""), errors="coerce")
        bad = numbers.isna() & (raw != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"expected a number, found {raw.iloc[i][:40]!r}", file=name, row=i + 2, column=column)
        values[:, j] = numbers.to_numpy(dtype=np.float32, na_value=np.nan)
    return values


_NUMBER_TEXT = st.one_of(
    st.text(alphabet=" \t0123456789.-+eE_xXabinfINFNa\u0663\u00a0", max_size=12),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-Infinity", "1e400", "1_000", "0x1A", "  48.5 ", "+3", ".5"]),
)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@settings(max_examples=80, deadline=None)
@given(columns=st.lists(st.lists(st.one_of(_NUMBER_TEXT, st.none()), min_size=3, max_size=3), min_size=1, max_size=3))
def test_numbers_are_parsed_as_the_study_parsed_them(columns):
    import pandas as pd

    frame = pd.DataFrame({f"c{j}": values for j, values in enumerate(columns)}, dtype=str)  # None: NaN

    def outcome(parse):
        try:
            return parse(frame, tuple(frame.columns), "f.csv")
        except Exception as error:  # a missing value (NaN) that is "bad" made the study's code crash
            return type(error), str(error)

    expected, got = outcome(_study_parse_numbers), outcome(data._parse_numbers)
    if isinstance(expected, tuple):
        assert got == expected
    else:
        np.testing.assert_array_equal(got, expected)
