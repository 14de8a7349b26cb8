"""Reading and writing Kaggle's "Facial Keypoints Detection" files, with validation.

Kaggle ships ``training.csv`` (30 keypoint columns in pixels, then ``Image``: 9216
space-separated gray values), ``test.csv`` (``ImageId``, ``Image``),
``IdLookupTable.csv`` and ``SampleSubmission.csv`` -- loose, zipped one by one, or
all inside the competition zip that ``kaggle competitions download`` produces.
:func:`find_data` accepts any of these layouts.

Two things matter here:

* Speed. The study parsed each image with a Python loop; the pixel column is parsed
  here as one byte buffer with numpy (:func:`_parse_pixels`), so a 100 MB
  ``training.csv`` loads in a few seconds.
* Errors. Bad input raises :class:`DataError`, whose message names the file, the
  line (as an editor counts it: the header is line 1, the first face line 2) and the
  column. The fast path only detects *that* something is wrong; the offending row is
  then re-read slowly to say *what* is wrong.

No TensorFlow here: data errors must answer in well under a second.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from fkd.atomic import atomic_path, write_bytes, write_text
from fkd.errors import FkdError
from fkd.keypoints import COORDINATE_COLUMNS, IMAGE_SIZE

N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
COORDINATE_MARGIN = 16.0
"""Coordinates further than this many pixels outside the image are rejected as corrupt."""
DEMO_MARKER = "FKD_DEMO_DATA.txt"
"""A file with this name marks a folder of synthetic demo data made by :mod:`fkd.demo`."""
TRAINING_COLUMNS = (*COORDINATE_COLUMNS, "Image")
TEST_COLUMNS = ("ImageId", "Image")
LOOKUP_COLUMNS = ("RowId", "ImageId", "FeatureName")
MAX_MEMBER_BYTES = 2_000_000_000
"""An archive member declaring more bytes than this (2 GB) once unpacked is refused before it is read.

Kaggle's largest file, ``training.csv``, is about 240 MB; a member far larger is a
damaged or hostile archive, and reading it whole would exhaust the memory.
"""
_READ_PIECE = 4 << 20
_BOM = b"\xef\xbb\xbf"
_ASCII_SPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
"""The ASCII characters ``str.strip`` removes."""
_PIXEL_GROUP = 256
"""Rows checked together for bad pixels: the error named is the first :func:`_parse_pixels` finds in them."""
_PIXEL_BLOCK = 32
"""Rows parsed per vectorised step (about 1 MB of text): its temporaries stay a few MB."""
_EXTRACT_DIR = ".fkd-extracted"
_COMPETITION_MEMBERS = ("training.zip", "test.zip", "IdLookupTable.csv", "SampleSubmission.csv")


class DataError(FkdError, ValueError):
    """Input data that cannot be used, with where it is wrong.

    ``str(error)`` reads ``<file>, line <row>, column <column>: <message>``, leaving
    out the parts that are unknown.
    """

    def __init__(
        self, message: str, *, file: str | Path | None = None, row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        where = [part for part in (
            self.file,
            f"line {row}" if row is not None else None,
            f"column {column!r}" if column is not None else None,
        ) if part]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


@dataclass
class Dataset:
    """Training faces: ``images`` uint8 N x 96 x 96, ``keypoints`` float32 N x 30 in pixels (NaN = missing)."""

    images: np.ndarray
    keypoints: np.ndarray
    source: str
    fingerprint: str
    """sha256 (16 hex digits) of the CSV text: the same data gives the same fingerprint, zipped or not."""

    def __len__(self) -> int:
        return len(self.images)

    @property
    def complete(self) -> np.ndarray:
        """Boolean mask of rows with all 15 keypoints."""
        return ~np.isnan(self.keypoints).any(axis=1)

    def subset(self, rows: np.ndarray) -> Dataset:
        return Dataset(self.images[rows], self.keypoints[rows], self.source, self.fingerprint)


@dataclass
class TestSet:
    """Test faces: ``image_ids`` int N (Kaggle's ``ImageId``), ``images`` uint8 N x 96 x 96."""

    image_ids: np.ndarray
    images: np.ndarray
    source: str
    fingerprint: str

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class DataFiles:
    """Where each of Kaggle's files is (``None`` when absent), and whether it is demo data."""

    root: Path
    training: Path
    test: Path | None = None
    lookup: Path | None = None
    sample: Path | None = None
    demo: bool = False


# --- locating files -------------------------------------------------------------------


def _first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / name for name in names if (folder / name).is_file()), None)


def _competition_zip(folder: Path) -> Path | None:
    """The zip from ``kaggle competitions download``: it holds training.zip and friends."""
    for candidate in sorted(folder.glob("*.zip")):
        if candidate.name in ("training.zip", "test.zip"):
            continue
        try:
            with zipfile.ZipFile(candidate) as archive:
                if "training.zip" in archive.namelist() or "training.csv" in archive.namelist():
                    return candidate
        except zipfile.BadZipFile:
            continue
    return None


def _check_member_size(archive_path: Path, info: zipfile.ZipInfo) -> None:
    """Refuse, before reading a byte of it, a member that says it unpacks to more than :data:`MAX_MEMBER_BYTES`."""
    if info.file_size > MAX_MEMBER_BYTES:
        raise DataError(
            f"archive member {info.filename!r} would unpack to {info.file_size:,} bytes "
            f"({info.compress_size:,} bytes packed), more than the {MAX_MEMBER_BYTES:,}-byte limit "
            "for one data file; refusing to read it (is the archive damaged, or not Kaggle's?)",
            file=archive_path,
        )


def extract_competition_zip(archive_path: Path, dest: Path) -> Path:
    """Safely extract Kaggle's competition zip into ``dest``.

    Only the known file names are extracted, each checked to be a plain name (no
    folders, no ``..``) and of a sane size (:data:`MAX_MEMBER_BYTES`), so a crafted
    archive can neither write outside ``dest`` nor fill the disk or memory.
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for info in archive.infolist():
                name = info.filename
                if Path(name).name != name or name in ("", ".", "..") or "\\" in name:
                    raise DataError(
                        f"archive member {name!r} has a path; refusing to extract it", file=archive_path
                    )
                if name not in (*_COMPETITION_MEMBERS, "training.csv", "test.csv"):
                    continue
                _check_member_size(archive_path, info)
                target = dest / name
                if not target.exists() or target.stat().st_size != info.file_size:
                    with atomic_path(target) as temporary, archive.open(info) as member, \
                            open(temporary, "wb") as out:
                        shutil.copyfileobj(member, out, _READ_PIECE)
    except zipfile.BadZipFile as error:
        raise DataError(f"not a readable zip archive ({error})", file=archive_path) from None
    return dest


def find_data(folder: str | Path) -> DataFiles:
    """Locate Kaggle's files in ``folder``: loose CSVs, per-file zips, or the competition zip."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError("no such data folder", file=root)
    training = _first_existing(root, ("training.csv", "training.zip"))
    if training is None and (bundle := _competition_zip(root)) is not None:
        return find_data(extract_competition_zip(bundle, root / _EXTRACT_DIR))
    if training is None:
        raise DataError(
            "no training.csv or training.zip here (expected Kaggle's files: training.zip, "
            "test.zip, IdLookupTable.csv, SampleSubmission.csv, or the competition zip)",
            file=root,
        )
    return DataFiles(
        root=root,
        training=training,
        test=_first_existing(root, ("test.csv", "test.zip")),
        lookup=_first_existing(root, ("IdLookupTable.csv",)),
        sample=_first_existing(root, ("SampleSubmission.csv",)),
        demo=(root / DEMO_MARKER).is_file(),
    )


# --- reading ---------------------------------------------------------------------------


def _read_into(stream: BinaryIO, size: int) -> bytearray:
    """Up to ``size`` bytes of ``stream``, read piece by piece into one buffer (no second copy)."""
    buffer = bytearray(size)
    filled = 0
    with memoryview(buffer) as view:
        while filled < size:
            count = stream.readinto(view[filled:filled + _READ_PIECE])
            if not count:
                break
            filled += count
    del buffer[filled:]
    return buffer


def _read_raw(path: Path, member: str) -> tuple[bytearray, str, str | None]:
    """The bytes at ``path`` (a .csv, or a .zip holding ``member``), a display name, and the member read.

    A zip member is unpacked piece by piece into a buffer of its declared size, after
    checking that size against :data:`MAX_MEMBER_BYTES`; the declared size is also
    all that is read (zipfile checks the CRC), so a lying archive cannot grow it.
    """
    if not path.is_file():
        raise DataError("file not found", file=path)
    if path.suffix.lower() != ".zip":
        with open(path, "rb", buffering=0) as stream:
            return _read_into(stream, os.fstat(stream.fileno()).st_size), str(path), None
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            csvs = [n for n in names if n.lower().endswith(".csv")]
            chosen = member if member in names else (csvs[0] if len(csvs) == 1 else None)
            if chosen is None:
                raise DataError(
                    f"zip holds no {member} (members: {', '.join(names) or 'none'})", file=path
                )
            info = archive.getinfo(chosen)
            _check_member_size(path, info)
            with archive.open(info) as stream:
                raw = _read_into(stream, info.file_size)
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise DataError(f"not a readable zip archive ({error})", file=path) from None
    return raw, f"{path}:{chosen}", chosen


def _read_text(path: Path, member: str) -> tuple[str, str]:
    """The CSV text at ``path`` (a .csv, or a .zip holding ``member``) and a display name."""
    raw, name, _ = _read_raw(path, member)
    return _as_text(raw, name).decode("utf-8"), name


def _as_text(raw: bytearray, name: str) -> bytearray:
    """``raw`` as the text fkd reads, still as bytes: UTF-8 checked, a BOM dropped, CRLF made LF.

    Changes ``raw`` in place where it can (dropping the BOM costs nothing), so the
    common file -- ASCII, no BOM, LF -- is neither copied nor decoded to ``str``.
    """
    if raw.startswith(_BOM):
        del raw[:len(_BOM)]
    if not raw.isascii():
        # Checked piece by piece, cut after a newline (never inside a character), so
        # that a 100 MB file is never a 100-400 MB str as well.
        with memoryview(raw) as view:
            start = 0
            while start < len(raw):
                stop = raw.find(b"\n", start + _READ_PIECE) + 1 or len(raw)
                try:
                    str(view[start:stop], "utf-8")
                except UnicodeDecodeError as error:
                    raise DataError(f"not UTF-8 text (byte {start + error.start})", file=name) from None
                start = stop
    if b"\r" in raw:  # (one byte is searched for far faster than two)
        raw = raw.replace(b"\r\n", b"\n")
    return raw


def _check_columns(columns: list[str], expected: tuple[str, ...], name: str) -> None:
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected and c != "Location"]
    if missing:
        found = f"; unexpected: {', '.join(extra)}" if extra else ""
        raise DataError(f"missing column(s) {', '.join(missing)}{found}", file=name, row=1)
    if extra:
        raise DataError(f"unexpected column(s) {', '.join(extra)}", file=name, row=1)


def _read_table(text: str, name: str, expected: tuple[str, ...]) -> pd.DataFrame:
    """Parse CSV text into string columns and check the header and the row count."""
    if not text.strip():
        raise DataError("the file is empty", file=name)
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except pd.errors.ParserError as error:
        raise DataError(f"not a well-formed CSV file ({error})", file=name) from None
    columns = [str(c).strip() for c in frame.columns]
    _check_columns(columns, expected, name)
    frame.columns = columns
    # A file ends with one newline; anything blank after the last row is ignored.
    while len(frame) and (frame.iloc[-1] == "").all():
        frame = frame.iloc[:-1]
    if frame.empty:
        raise DataError("the file has a header but no data rows", file=name)
    return frame


@dataclass
class _Table:
    """A data file's columns as text; ``Image`` either in ``frame`` or as byte spans of ``text``."""

    frame: pd.DataFrame
    text: bytearray | None = None
    starts: np.ndarray | None = None
    ends: np.ndarray | None = None

    def pixels(self, name: str) -> np.ndarray:
        if self.text is None:
            return _parse_pixels(self.frame["Image"], name)
        return _parse_pixel_spans(self.text, self.starts, self.ends, name)


def _split_table(text: bytearray, name: str, expected: tuple[str, ...]) -> _Table:
    """Split CSV text (from :func:`_as_text`) into columns, checking the header and the row count.

    Kaggle's files are plain: ASCII, no quotes, one row a line, the same number of
    commas on every line. Those are split here, leaving the pixels where they are
    (:func:`_parse_pixel_spans` reads them in place). Anything else -- quotes, blank
    lines, ragged rows, a lone CR, odd headers -- is read by pandas as before, so that
    it is accepted, or refused with the same message, exactly as it always was.
    """
    table = _split_plain(text, name, expected)
    if table is None:
        table = _Table(_read_table(text.decode("utf-8"), name, expected))
    return table


def _split_plain(text: bytearray, name: str, expected: tuple[str, ...]) -> _Table | None:
    """:func:`_split_table` for a plain file; None when the file is not plain (nothing raised then)."""
    if not text.isascii() or not text[:4096].strip(_ASCII_SPACE) or any(odd in text for odd in b'"\r\0'):
        return None  # (the empty file too: pandas' path says so)
    header_end = text.find(b"\n") + 1 or len(text) + 1
    columns = [c.strip() for c in text[:header_end - 1].decode("ascii").split(",")]
    if "" in columns or len(set(columns)) < len(columns) or "Image" not in columns:
        return None  # pandas renames such columns; let it, and say what it says
    before = columns.index("Image")
    after = len(columns) - 1 - before
    find, rfind, count = text.find, text.rfind, text.count
    starts, ends, rows = [], [], []
    line, size = header_end, len(text)
    while line < size:
        line_end = find(b"\n", line) + 1 or size + 1
        start, stop = line, line_end - 1
        if stop == line:
            return None  # a blank line
        if after == 0:  # Kaggle's layout: Image last
            start = rfind(b",", line, stop) + 1 if before else line
            if count(b",", line, start) != before or (not before and find(b",", line, stop) >= 0):
                return None
        else:
            for _ in range(before):
                start = find(b",", start, stop) + 1
                if not start:
                    return None
            for _ in range(after):
                stop = rfind(b",", start, stop)
                if stop < 0:
                    return None
            if find(b",", start, stop) >= 0:
                return None
        fields = text[line:max(line, start - 1)].decode("ascii").split(",") if before else []
        if after:
            fields += text[stop + 1:line_end - 1].decode("ascii").split(",")
        starts.append(start)
        ends.append(stop)
        rows.append(fields)
        line = line_end
    _check_columns(columns, expected, name)
    # A file ends with one newline; a row with nothing in it after the last row is ignored.
    while rows and starts[-1] == ends[-1] and not any(rows[-1]):
        del starts[-1], ends[-1], rows[-1]
    if not rows:
        raise DataError("the file has a header but no data rows", file=name)
    others = [c for c in columns if c != "Image"]
    frame = pd.DataFrame({c: list(values) for c, values in zip(others, zip(*rows))}, dtype=str)
    return _Table(frame, text, np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64))


def _line(row_index: int) -> int:
    """Data row ``row_index`` (0-based) is this line of the file: the header is line 1."""
    return row_index + 2


def _parse_numbers(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> np.ndarray:
    """Numeric columns as float32, NaN where empty; anything non-numeric is an error."""
    values = np.empty((len(frame), len(columns)), dtype=np.float32)
    for j, column in enumerate(columns):
        raw = frame[column].str.strip()
        numbers = pd.to_numeric(raw.where(raw != ""), errors="coerce")
        bad = numbers.isna() & (raw != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"expected a number, found {raw.iloc[i][:40]!r}", file=name, row=_line(i), column=column
            )
        values[:, j] = numbers.to_numpy(dtype=np.float32, na_value=np.nan)
    return values


def _diagnose_pixels(text: str, name: str, row: int, column: str) -> DataError:
    """Say precisely what is wrong with one row's pixel string (the slow path)."""
    tokens = text.split()
    if not tokens:
        return DataError("the image is empty", file=name, row=row, column=column)
    for k, token in enumerate(tokens, start=1):
        try:
            value = int(token)
        except ValueError:
            return DataError(
                f"pixel {k} is {token[:20]!r}, not a whole number 0-255", file=name, row=row, column=column
            )
        if not 0 <= value <= 255:
            return DataError(
                f"pixel {k} is {value}, outside 0-255", file=name, row=row, column=column
            )
    return DataError(
        f"expected {N_PIXELS} pixel values (96 x 96), found {len(tokens)}"
        + (" (is the file truncated?)" if len(tokens) < N_PIXELS else ""),
        file=name, row=row, column=column,
    )


def _parse_pixels(
    strings: pd.Series, name: str, column: str = "Image", chunk: int = _PIXEL_GROUP, first_row: int = 0,
) -> np.ndarray:
    """Parse ``Image`` strings into uint8 N x 96 x 96 without a Python loop per pixel.

    Each chunk of rows is joined into one byte buffer; digit runs are found with
    vectorised comparisons and their values assembled from up to three digits. Any
    surprise (bad byte, wrong count, long number) sends that row to
    :func:`_diagnose_pixels` for a precise message. ``strings`` are the rows from
    ``first_row`` (0-based) on.

    Used for files only pandas can split, and to name the error in a group of rows
    :func:`_parse_pixel_spans` found wrong: the error reported is the one this
    function has always reported.
    """
    n = len(strings)
    out = np.empty((n, N_PIXELS), dtype=np.uint8)
    values_all = strings.to_numpy()
    for begin in range(0, n, chunk):
        rows = values_all[begin:begin + chunk]
        buf = np.frombuffer(("\n".join(rows) + "\n").encode("ascii", "replace"), dtype=np.uint8)
        digit = (buf >= 48) & (buf <= 57)
        separator = (buf == 32) | (buf == 10) | (buf == 9)
        newlines = np.flatnonzero(buf == 10)

        def fail_at(byte_position: int) -> DataError:
            i = begin + int(np.searchsorted(newlines, byte_position))
            return _diagnose_pixels(values_all[i], name, _line(first_row + i), column)

        if not (digit | separator).all():
            raise fail_at(int(np.argmax(~(digit | separator))))
        previous = np.concatenate(([False], digit[:-1]))
        following = np.concatenate((digit[1:], [False]))
        starts = np.flatnonzero(digit & ~previous)
        ends = np.flatnonzero(digit & ~following)
        row_of_token = np.searchsorted(newlines, starts)
        counts = np.bincount(row_of_token, minlength=len(rows))
        if (counts != N_PIXELS).any():
            i = int(np.argmax(counts != N_PIXELS))
            raise _diagnose_pixels(values_all[begin + i], name, _line(first_row + begin + i), column)
        lengths = ends - starts + 1
        if lengths.max() > 3:
            raise fail_at(int(starts[np.argmax(lengths > 3)]))
        d = buf.astype(np.int16) - 48
        value = d[ends].copy()
        two = lengths >= 2
        value[two] += 10 * d[ends[two] - 1]
        three = lengths == 3
        value[three] += 100 * d[ends[three] - 2]
        if value.max() > 255:
            raise fail_at(int(starts[np.argmax(value > 255)]))
        out[begin:begin + len(rows)] = value.reshape(len(rows), N_PIXELS)
    return out.reshape(n, IMAGE_SIZE, IMAGE_SIZE)


def _parse_pixel_spans(
    text: bytearray, starts: np.ndarray, ends: np.ndarray, name: str, column: str = "Image",
) -> np.ndarray:
    """Parse the pixels at ``text[starts[i]:ends[i]]`` into uint8 N x 96 x 96, in place.

    Blocks of :data:`_PIXEL_BLOCK` rows are parsed by :func:`_parse_pixel_block`,
    straight from the file's bytes: no row is copied into a Python string. When a
    block holds anything but well-formed pixels, its group of :data:`_PIXEL_GROUP`
    rows is parsed again by :func:`_parse_pixels`, which names the error.
    """
    n = len(starts)
    out = np.empty((n, N_PIXELS), dtype=np.uint8)
    codes = np.frombuffer(text, dtype=np.uint8)
    for group in range(0, n, _PIXEL_GROUP):
        group_end = min(group + _PIXEL_GROUP, n)
        blocks = [slice(begin, min(begin + _PIXEL_BLOCK, group_end)) for begin in range(group, group_end, _PIXEL_BLOCK)]
        if not all(_parse_pixel_block(codes, starts[rows], ends[rows], out[rows]) for rows in blocks):
            strings = pd.Series([text[s:e].decode("ascii") for s, e in zip(starts[group:group_end], ends[group:group_end])])
            out[group:group_end] = _parse_pixels(strings, name, column, first_row=group).reshape(-1, N_PIXELS)
    return out.reshape(n, IMAGE_SIZE, IMAGE_SIZE)


_SEPARATOR = np.uint8(ord(" ") - ord("0") + 256)
"""A space once ``"0"`` is subtracted from every byte (0xF0: its low four bits are 0)."""
_TAB = np.uint8(ord("\t") - ord("0") + 256)


def _parse_pixel_block(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, out: np.ndarray) -> bool:
    """Parse rows of pixels, ``codes[starts[i]:ends[i]]`` (the file's bytes), into ``out``; False if any is not
    exactly 9216 whole numbers 0-255 separated by spaces or tabs.

    With ``"0"`` subtracted, a digit byte is its value and a space 0xF0; a number's
    value is read at its last digit ``i`` as ``v[i] + 10 v[i-1] + 100 v[i-2]`` with
    spaces counting 0 (the hundreds only when ``i-1`` is a digit too). Every step is
    one vectorised operation over the block's bytes; only the numbers' last digits
    are gathered.
    """
    low, high = int(starts[0]), int(ends[-1])
    # Three separators before the first row, one after the last, and the bytes between
    # two rows' pixels (the next row's other columns) made separators too.
    digits = np.empty(high - low + 4, dtype=np.uint8)
    digits[:3] = digits[-1] = _SEPARATOR
    np.subtract(codes[low:high], np.uint8(ord("0")), out=digits[3:-1])
    for stop, start in zip((ends[:-1] - low + 3).tolist(), (starts[1:] - low + 3).tolist()):
        digits[stop:start] = _SEPARATOR
    is_digit = digits < 10
    valid = np.count_nonzero(is_digit) + np.count_nonzero(digits == _SEPARATOR)
    if valid != len(digits):
        tabs = digits == _TAB
        if valid + np.count_nonzero(tabs) != len(digits):
            return False  # a byte that is neither a digit nor a separator
        digits[tabs] = _SEPARATOR
    pairs = is_digit[:-1] & is_digit[1:]
    if (pairs[:-2] & pairs[2:]).any():
        return False  # four digits in a row
    del pairs
    digits &= np.uint8(0x0F)  # separators count 0
    # Indexed by i - 2 for the digit at i:
    ones_tens = digits[1:-1] * np.uint8(10)
    ones_tens += digits[2:]
    hundreds = digits[:-2] * is_digit[1:-1]
    del digits
    last = np.flatnonzero(is_digit[2:-1] > is_digit[3:])  # each number's last digit, minus 2
    del is_digit
    counts = np.diff(np.searchsorted(last, ends - low + 1), prepend=0)
    if (counts != N_PIXELS).any():
        return False
    values = ones_tens.take(last).astype(np.uint16)
    values += hundreds.take(last) * np.uint16(100)
    if values.max() > 255:
        return False
    out[...] = values.reshape(out.shape)
    return True


def _fingerprint_later(text: bytearray) -> Callable[[], str]:
    """Start hashing ``text`` beside the parsing (hashlib lets go of the GIL); call the result for the digest.

    The fingerprint: sha256, first 16 hex digits, of the text as :func:`_as_text` gives
    it -- the UTF-8 bytes of the CSV with no BOM and LF line ends, zipped or not.
    """
    digest: list[str] = []
    worker = threading.Thread(
        target=lambda: digest.append(hashlib.sha256(text).hexdigest()[:16]), name="fkd-fingerprint", daemon=True
    )
    worker.start()

    def result() -> str:
        worker.join()
        return digest[0]

    return result


def _parse_file(path: Path, member: str, parse: Callable[[bytearray, str], dict[str, np.ndarray]],
                ) -> tuple[dict[str, np.ndarray], str, str]:
    """Read ``path`` and ``parse`` its text: the arrays, the display name and the fingerprint."""
    raw, name, _ = _read_raw(path, member)
    text = _as_text(raw, name)
    del raw
    fingerprint = _fingerprint_later(text)
    arrays = parse(text, name)
    return arrays, name, fingerprint()


def _training_path(source: str | Path | DataFiles) -> Path:
    if isinstance(source, DataFiles):
        return source.training
    path = Path(source)
    return find_data(path).training if path.is_dir() else path


def _parse_training(text: bytearray, name: str) -> dict[str, np.ndarray]:
    table = _split_table(text, name, TRAINING_COLUMNS)
    keypoints = _parse_numbers(table.frame, COORDINATE_COLUMNS, name)
    outside = (keypoints < -COORDINATE_MARGIN) | (keypoints > IMAGE_SIZE + COORDINATE_MARGIN)
    if outside.any():
        i, j = (int(v) for v in np.argwhere(outside)[0])
        raise DataError(
            f"coordinate {keypoints[i, j]:g} is far outside the 96 x 96 image",
            file=name, row=_line(i), column=COORDINATE_COLUMNS[j],
        )
    return {"images": table.pixels(name), "keypoints": keypoints}


def load_training(source: str | Path | DataFiles) -> Dataset:
    """Load ``training.csv`` (or its zip, or the one found in a folder) as a :class:`Dataset`."""
    arrays, name, fingerprint = _parse_file(_training_path(source), "training.csv", _parse_training)
    return Dataset(arrays["images"], arrays["keypoints"], name, fingerprint)


def _parse_test(text: bytearray, name: str) -> dict[str, np.ndarray]:
    table = _split_table(text, name, TEST_COLUMNS)
    ids = _parse_numbers(table.frame, ("ImageId",), name)[:, 0]
    if np.isnan(ids).any() or (ids != np.round(ids)).any():
        i = int(np.argmax(np.isnan(ids) | (ids != np.round(ids))))
        raise DataError("ImageId must be a whole number", file=name, row=_line(i), column="ImageId")
    image_ids = ids.astype(np.int64)
    duplicated = pd.Series(image_ids).duplicated().to_numpy()
    if duplicated.any():
        i = int(np.argmax(duplicated))
        raise DataError(f"ImageId {image_ids[i]} appears twice", file=name, row=_line(i), column="ImageId")
    return {"image_ids": image_ids, "images": table.pixels(name)}


def load_test(source: str | Path | DataFiles) -> TestSet:
    """Load ``test.csv`` (or its zip, or the one found in a folder) as a :class:`TestSet`."""
    if isinstance(source, DataFiles):
        if source.test is None:
            raise DataError("no test.csv or test.zip in this folder", file=source.root)
        path = source.test
    else:
        path = Path(source)
        if path.is_dir():
            return load_test(find_data(path))
    arrays, name, fingerprint = _parse_file(path, "test.csv", _parse_test)
    return TestSet(arrays["image_ids"], arrays["images"], name, fingerprint)


def load_lookup(path: str | Path) -> pd.DataFrame:
    """Kaggle's ``IdLookupTable.csv``: which coordinate of which test image each RowId asks for."""
    text, name = _read_text(Path(path), "IdLookupTable.csv")
    frame = _read_table(text, name, (*LOOKUP_COLUMNS, "Location"))
    numbers = _parse_numbers(frame, ("RowId", "ImageId"), name)
    for j, column in enumerate(("RowId", "ImageId")):
        if np.isnan(numbers[:, j]).any():
            i = int(np.argmax(np.isnan(numbers[:, j])))
            raise DataError("value is empty", file=name, row=_line(i), column=column)
    _check_row_ids(numbers[:, 0], name)
    features = frame["FeatureName"].str.strip()
    unknown = ~features.isin(COORDINATE_COLUMNS)
    if unknown.any():
        i = int(np.argmax(unknown.to_numpy()))
        raise DataError(
            f"unknown feature {features.iloc[i]!r}; expected one of Kaggle's 30 keypoint columns",
            file=name, row=_line(i), column="FeatureName",
        )
    return pd.DataFrame({
        "RowId": numbers[:, 0].astype(np.int64),
        "ImageId": numbers[:, 1].astype(np.int64),
        "FeatureName": features.to_numpy(),
    })


def _check_row_ids(row_ids: np.ndarray, name: str) -> None:
    """Kaggle scores a submission row by row: RowIds must be whole, unique and ascending."""
    fractional = row_ids != np.round(row_ids)
    if fractional.any():
        i = int(np.argmax(fractional))
        raise DataError(f"RowId {row_ids[i]:g} is not a whole number", file=name, row=_line(i), column="RowId")
    steps = np.diff(row_ids)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        if steps[i - 1] == 0:
            message = f"RowId {row_ids[i]:g} appears twice (also on line {_line(i - 1)}); RowIds must be unique"
        else:
            message = f"RowId {row_ids[i]:g} follows RowId {row_ids[i - 1]:g}; RowIds must ascend"
        raise DataError(message, file=name, row=_line(i), column="RowId")


# --- writing -----------------------------------------------------------------------------


_PIXEL_TEXT = np.array([str(v) for v in range(256)], dtype=object)


def _image_strings(images: np.ndarray) -> list[str]:
    flat = np.asarray(images, dtype=np.uint8).reshape(len(images), -1)
    return [" ".join(_PIXEL_TEXT[row]) for row in flat]


def _write_csv(path: Path, frame: pd.DataFrame, member: str) -> None:
    text = frame.to_csv(index=False, float_format="%.6f", lineterminator="\n")
    if path.suffix.lower() == ".zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(member, text)
        write_bytes(path, buffer.getvalue())
    else:
        write_text(path, text)


def write_training_csv(path: str | Path, images: np.ndarray, keypoints: np.ndarray) -> None:
    """Write faces in Kaggle's ``training.csv`` layout (a ``.zip`` path writes the zip)."""
    frame = pd.DataFrame(np.asarray(keypoints, dtype=np.float64), columns=list(COORDINATE_COLUMNS))
    frame["Image"] = _image_strings(images)
    _write_csv(Path(path), frame, "training.csv")


def write_test_csv(path: str | Path, image_ids: np.ndarray, images: np.ndarray) -> None:
    """Write faces in Kaggle's ``test.csv`` layout (a ``.zip`` path writes the zip)."""
    frame = pd.DataFrame({"ImageId": np.asarray(image_ids, dtype=np.int64), "Image": _image_strings(images)})
    _write_csv(Path(path), frame, "test.csv")
