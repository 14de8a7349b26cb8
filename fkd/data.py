"""Reading and writing Kaggle's "Facial Keypoints Detection" files, with validation.

Kaggle ships ``training.csv`` (30 keypoint columns in pixels, then ``Image``: 9216
space-separated gray values), ``test.csv`` (``ImageId``, ``Image``),
``IdLookupTable.csv`` and ``SampleSubmission.csv`` -- loose, zipped one by one, or
all inside the competition zip that ``kaggle competitions download`` produces.
:func:`find_data` accepts any of these layouts.

Three things matter here:

* Speed. The study parsed each image with a Python loop. Kaggle's files are plain
  CSV (ASCII, no quotes, one row a line), and are split here without pandas: each
  row's pixels are parsed in place from the file's bytes, a block of rows per
  vectorised step (:func:`_parse_pixel_block`), while a thread of its own is still
  unpacking the zip (:class:`_Reader`). A 100 MB ``training.csv`` loads in about
  a second, holding little more than its bytes and the images; anything unusual
  goes through pandas as it always did. The parsed arrays are kept in the cache
  (:mod:`fkd.cache`): the next load of the same file takes a fraction of a second.
* Errors. Bad input raises :class:`DataError`, whose message names the file, the
  line (as an editor counts it: the header is line 1, the first face line 2) and the
  column. The fast path only detects *that* something is wrong; the offending rows
  are then re-read slowly (:func:`_parse_pixels`) to say *what* is wrong.
* Safety. A zip member that says it unpacks to more than :data:`MAX_MEMBER_BYTES`
  is refused before a byte of it is read.

No TensorFlow here: data errors must answer in well under a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from fkd.atomic import atomic_path, write_bytes, write_text
from fkd.cache import Schema, SourceKey, load_parsed, store_parsed
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


@contextlib.contextmanager
def _opened(path: Path, member: str) -> Iterator[tuple[BinaryIO, int, str, str | None]]:
    """``path`` (a .csv, or a .zip holding ``member``) open for reading: stream, size, display name, member read.

    A zip member's declared size is checked against :data:`MAX_MEMBER_BYTES` before
    it is opened, and it is all that is read (zipfile checks the CRC at the end), so
    a lying archive cannot make the buffer grow. Errors while reading a zip, in the
    ``with`` block too, become "not a readable zip archive".
    """
    if not path.is_file():
        raise DataError("file not found", file=path)
    if path.suffix.lower() != ".zip":
        with open(path, "rb", buffering=0) as stream:
            yield stream, os.fstat(stream.fileno()).st_size, str(path), None
        return
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
                yield stream, info.file_size, f"{path}:{chosen}", chosen
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise DataError(f"not a readable zip archive ({error})", file=path) from None


class _Reader:
    """Reads a stream into one buffer on a thread of its own, hashing it on the way.

    Unpacking a zip is a third of a load; zlib and hashlib let go of the GIL, so the
    caller splits and parses the rows that have arrived (:meth:`wait`) while the rest
    is unpacked. Use as a context manager: leaving it stops and joins the thread.
    """

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.buffer = bytearray(size)
        """Filled from the front; only ``buffer[:wait()]`` may be looked at while reading."""
        self._stream = stream
        self._filled = 0
        self._done = False
        self._stop = False
        self._error: BaseException | None = None
        self._digest = ""
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="fkd-read", daemon=True)

    def __enter__(self) -> _Reader:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop = True
        self._thread.join()

    def _read(self) -> None:
        hasher, hashed = hashlib.sha256(), -1  # -1: not yet known whether a BOM leads
        filled = 0
        try:
            with memoryview(self.buffer) as view:
                while filled < len(view) and not self._stop:
                    count = self._stream.readinto(view[filled:filled + _READ_PIECE])
                    if not count:
                        break
                    filled += count
                    if hashed < 0 and filled >= len(_BOM):
                        hashed = len(_BOM) if view[:len(_BOM)] == _BOM else 0
                    if hashed >= 0:
                        hasher.update(view[hashed:filled])
                        hashed = filled
                    with self._changed:
                        self._filled = filled
                        self._changed.notify_all()
                if not self._stop:
                    hasher.update(view[max(hashed, 0):filled])
                    self._digest = hasher.hexdigest()[:16]
        except BaseException as error:  # handed to the caller by result()
            self._error = error
        finally:
            with self._changed:
                self._done = True
                self._changed.notify_all()

    def wait(self, beyond: int) -> tuple[int, bool]:
        """Block until more than ``beyond`` bytes have arrived, or all; the count, and whether that is all."""
        with self._changed:
            self._changed.wait_for(lambda: self._filled > beyond or self._done)
            return self._filled, self._done

    def result(self) -> tuple[bytearray, str]:
        """Once read: the bytes (handed over: the reader lets go of them), and the fingerprint of the
        text they hold, right unless CRLF has to become LF (see :func:`_as_text`)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        buffer, self.buffer = self.buffer, bytearray()
        if self._filled < len(buffer):
            del buffer[self._filled:]
        return buffer, self._digest


def _read_raw(path: Path, member: str) -> tuple[bytearray, str]:
    """The bytes at ``path`` (a .csv, or a .zip holding ``member``) and a display name."""
    with _opened(path, member) as (stream, size, name, _), _Reader(stream, size) as reader:
        return reader.result()[0], name


def _read_text(path: Path, member: str) -> tuple[str, str]:
    """The CSV text at ``path`` (a .csv, or a .zip holding ``member``) and a display name."""
    raw, name = _read_raw(path, member)
    return _as_text(raw, name).decode("utf-8"), name


def _as_text(raw: bytearray, name: str) -> bytearray:
    """``raw`` as the text fkd reads, still as bytes: UTF-8 checked, a BOM dropped, CRLF made LF.

    Changes ``raw`` in place where it can (dropping the BOM costs nothing), so the
    common file -- ASCII, no BOM, LF -- is neither copied nor decoded to ``str``; a
    new buffer is returned only when CRLF had to become LF.
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
    """A data file's columns as text; ``Image`` among them unless ``split`` knows where each row's pixels are."""

    frame: pd.DataFrame
    split: _PlainSplit | None = None

    def pixels(self, name: str) -> np.ndarray:
        """The ``Image`` column parsed: uint8 N x 96 x 96."""
        if self.split is None:
            return _parse_pixels(self.frame["Image"], name)
        return self.split.pixels(name)


class _PlainSplit:
    """Splits a plain CSV into columns line by line, as far as its bytes have arrived.

    Kaggle's files are plain: ASCII, no BOM, no quotes, no CR, no blank line, one row
    a line with as many fields as the header has names. Such a file is split here:
    each row's other fields become text, its pixels stay where they are in the
    buffer and are parsed from there (:func:`_parse_pixel_block`), a block of rows as
    soon as it has arrived. Anything else -- quotes, blank lines, ragged rows, a lone
    CR, odd headers -- makes :meth:`finish` answer None, and the file is read by
    pandas as it always was, accepted or refused with the same message.
    """

    def __init__(self, text: bytearray, expected: tuple[str, ...]) -> None:
        self.text = text
        self.expected = expected
        self.plain = True
        self.columns: list[str] | None = None
        self._before = self._after = 0  # how many columns come before and after Image
        self._line = 0  # where the next line starts
        self.starts: list[int] = []  # where each row's pixels start in text ...
        self.ends: list[int] = []  # ... and end
        self.fields: list[list[str]] = []  # each row's other fields
        self._blocks: dict[int, np.ndarray] = {}  # first row -> pixels of the block parsed ahead
        self._next_block = 0

    def feed(self, available: int, final: bool = False) -> None:
        """Split the lines wholly within ``text[:available]`` not split yet (the last one too when ``final``),
        and parse the pixels of each block of rows that is complete."""
        text, find, rfind, count = self.text, self.text.find, self.text.rfind, self.text.count
        if self.plain and self.columns is None:
            header_end = find(b"\n", 0, available) + 1 or (available + 1 if final else 0)
            if not header_end:
                return
            header = text[:header_end - 1]
            columns = [c.strip() for c in header.decode("ascii", "replace").split(",")]
            if (not header.isascii() or "" in columns or len(set(columns)) < len(columns)
                    or "Image" not in columns):
                self.plain = False  # pandas renames such columns; let it, and say what it says
                return
            self.columns, self._line = columns, header_end
            self._before = columns.index("Image")
            self._after = len(columns) - 1 - self._before
        before, after = self._before, self._after
        line = self._line
        while self.plain and line < available:
            line_end = find(b"\n", line, available) + 1 or (available + 1 if final else 0)
            if not line_end:
                break  # not all here yet
            start, stop = line, line_end - 1
            if stop == line:
                self.plain = False  # a blank line
            elif after == 0:  # Kaggle's layout: Image last
                start = rfind(b",", line, stop) + 1 if before else line
                self.plain = count(b",", line, start) == before and (before > 0 or find(b",", line, stop) < 0)
            else:
                for _ in range(before):
                    comma = find(b",", start, stop)
                    if comma < 0:
                        break
                    start = comma + 1
                else:
                    for _ in range(after):
                        comma = rfind(b",", start, stop)
                        if comma < 0:
                            break
                        stop = comma
                self.plain = comma >= 0 and find(b",", start, stop) < 0
            if self.plain:
                fields = text[line:start - 1].decode("ascii", "replace").split(",") if before else []
                if after:
                    fields += text[stop + 1:line_end - 1].decode("ascii", "replace").split(",")
                self.starts.append(start)
                self.ends.append(stop)
                self.fields.append(fields)
                line = line_end
        self._line = line
        if self.plain:
            self._parse_ahead(len(self.starts) if final else len(self.starts) // _PIXEL_BLOCK * _PIXEL_BLOCK)

    def _parse_ahead(self, rows: int) -> None:
        """Parse the pixels of the blocks of :data:`_PIXEL_BLOCK` rows wholly among the first ``rows``."""
        codes = np.frombuffer(self.text, dtype=np.uint8)
        while self._next_block + _PIXEL_BLOCK <= rows:
            begin, end = self._next_block, self._next_block + _PIXEL_BLOCK
            out = np.empty((_PIXEL_BLOCK, N_PIXELS), dtype=np.uint8)
            if _parse_pixel_block(codes, np.array(self.starts[begin:end]), np.array(self.ends[begin:end]), out):
                self._blocks[begin] = out
            self._next_block = end

    def finish(self, name: str) -> _Table | None:
        """Split what is left once the whole text is here; the table, or None if the file is not plain."""
        text = self.text
        if (not self.plain or not text.isascii() or not text[:4096].strip(_ASCII_SPACE)
                or any(odd in text for odd in b'"\r\0')):
            return None  # (the empty file too: pandas' path says so)
        self.feed(len(text), final=True)
        if not self.plain:
            return None
        _check_columns(self.columns, self.expected, name)
        # A file ends with one newline; a row with nothing in it after the last row is ignored.
        while self.fields and self.starts[-1] == self.ends[-1] and not any(self.fields[-1]):
            del self.starts[-1], self.ends[-1], self.fields[-1]
        if not self.fields:
            raise DataError("the file has a header but no data rows", file=name)
        others = [c for c in self.columns if c != "Image"]
        frame = pd.DataFrame({c: list(values) for c, values in zip(others, zip(*self.fields))}, dtype=str)
        self.fields = []
        return _Table(frame, self)

    def pixels(self, name: str, column: str = "Image") -> np.ndarray:
        """Every row's pixels, uint8 N x 96 x 96: the blocks parsed ahead, and the rest now.

        When a block holds anything but well-formed pixels, its group of
        :data:`_PIXEL_GROUP` rows is parsed again by :func:`_parse_pixels`, which names
        the error -- the one it has always named.
        """
        n = len(self.starts)
        starts, ends = np.array(self.starts, dtype=np.int64), np.array(self.ends, dtype=np.int64)
        out = np.empty((n, N_PIXELS), dtype=np.uint8)
        codes = np.frombuffer(self.text, dtype=np.uint8)
        for group in range(0, n, _PIXEL_GROUP):
            group_end = min(group + _PIXEL_GROUP, n)
            for begin in range(group, group_end, _PIXEL_BLOCK):
                rows = slice(begin, min(begin + _PIXEL_BLOCK, group_end))
                ahead = self._blocks.pop(begin, None)
                if ahead is not None:
                    out[rows] = ahead[:rows.stop - begin]
                elif not _parse_pixel_block(codes, starts[rows], ends[rows], out[rows]):
                    strings = pd.Series([self.text[s:e].decode("ascii") for s, e in
                                         zip(self.starts[group:group_end], self.ends[group:group_end])])
                    out[group:group_end] = _parse_pixels(strings, name, column, first_row=group).reshape(-1, N_PIXELS)
                    break
        return out.reshape(n, IMAGE_SIZE, IMAGE_SIZE)


def _split_table(path: Path, member: str, expected: tuple[str, ...]) -> tuple[_Table, str, str | None, str]:
    """Read ``path`` (a .csv, or a .zip holding ``member``) and split it into columns, checking the
    header and the row count: the table, the display name, the member read, and the fingerprint.

    Rows are split, and their pixels parsed, while the file is still being read
    (:class:`_Reader`); the work is thrown away if the text turns out not to be plain
    or to need changing (a BOM, CRLF line ends), and done again on the final text.
    """
    with _opened(path, member) as (stream, size, name, chosen), _Reader(stream, size) as reader:
        split = _PlainSplit(reader.buffer, expected)
        available, done = 0, False
        while not done:
            available, done = reader.wait(available)
            split.feed(available)
        raw, fingerprint = reader.result()
    had_bom = raw.startswith(_BOM)
    text = _as_text(raw, name)
    if text is not raw or had_bom:  # the rows split so far are not where they were
        split = _PlainSplit(text, expected)
        if text is not raw:
            fingerprint = hashlib.sha256(text).hexdigest()[:16]
    del raw  # (a copy, when CRLF became LF)
    table = split.finish(name)
    if table is None:
        table = _Table(_read_table(text.decode("utf-8"), name, expected))
    return table, name, chosen, fingerprint


def _line(row_index: int) -> int:
    """Data row ``row_index`` (0-based) is this line of the file: the header is line 1."""
    return row_index + 2


def _parse_numbers(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> np.ndarray:
    """Numeric columns as float32, NaN where empty; anything non-numeric is an error.

    Each column is stripped and handed to ``pd.to_numeric`` as an object array, with
    NaN for the empty -- what ``.str.strip()``, ``.where(raw != "")`` and
    ``to_numeric`` on the text column come to, without pandas' overhead per call
    (a third of a small file's load).
    """
    values = np.empty((len(frame), len(columns)), dtype=np.float32)
    for j, column in enumerate(columns):
        raw = [text.strip() if isinstance(text, str) else text for text in frame[column].to_numpy(dtype=object)]
        empty = np.fromiter((text == "" for text in raw), dtype=bool, count=len(raw))
        given = np.array(raw, dtype=object)
        given[empty] = np.nan
        numbers = pd.Series(pd.to_numeric(given, errors="coerce"))
        bad = numbers.isna().to_numpy() & ~empty
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"expected a number, found {raw[i][:40]!r}", file=name, row=_line(i), column=column
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
    :meth:`_PlainSplit.pixels` found wrong: the error reported is the one this
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
    values += hundreds.take(last).astype(np.uint16) * np.uint16(100)  # (uint16 under numpy 1's casting too)
    if values.max() > 255:
        return False
    out[...] = values.reshape(out.shape)
    return True


_TRAINING_ARRAYS = {"images": (np.dtype(np.uint8), (IMAGE_SIZE, IMAGE_SIZE)),
                    "keypoints": (np.dtype(np.float32), (len(COORDINATE_COLUMNS),))}
_TEST_ARRAYS = {"image_ids": (np.dtype(np.int64), ()), "images": (np.dtype(np.uint8), (IMAGE_SIZE, IMAGE_SIZE))}


def _load_cached(
    path: Path, kind: str, schema: Schema,
    parse: Callable[[Path], tuple[dict[str, np.ndarray], str, str | None, str]], cache: bool,
) -> tuple[dict[str, np.ndarray], str, str]:
    """``parse(path)``'s arrays, display name and fingerprint -- from the parse cache when it holds them.

    The cache is keyed by the file's resolved path, size, mtime and inode (one
    ``stat``) and keeps the fingerprint with the arrays: a hit reads no byte of the
    data file. The display name is made from ``path`` as given, as a parse makes it.
    """
    if not path.is_file():
        raise DataError("file not found", file=path)
    key = SourceKey.of(kind, path) if cache else None
    if key is not None and (hit := load_parsed(key, schema, notes=("fingerprint", "member"))) is not None:
        arrays, notes = hit
        return arrays, f"{path}:{notes['member']}" if notes["member"] else str(path), notes["fingerprint"]
    arrays, name, member, fingerprint = parse(path)
    if key is not None:
        store_parsed(key, arrays, {"fingerprint": fingerprint, "member": member or ""})
    return arrays, name, fingerprint


def _training_path(source: str | Path | DataFiles) -> Path:
    if isinstance(source, DataFiles):
        return source.training
    path = Path(source)
    return find_data(path).training if path.is_dir() else path


def _parse_training(path: Path) -> tuple[dict[str, np.ndarray], str, str | None, str]:
    table, name, member, fingerprint = _split_table(path, "training.csv", TRAINING_COLUMNS)
    keypoints = _parse_numbers(table.frame, COORDINATE_COLUMNS, name)
    outside = (keypoints < -COORDINATE_MARGIN) | (keypoints > IMAGE_SIZE + COORDINATE_MARGIN)
    if outside.any():
        i, j = (int(v) for v in np.argwhere(outside)[0])
        raise DataError(
            f"coordinate {keypoints[i, j]:g} is far outside the 96 x 96 image",
            file=name, row=_line(i), column=COORDINATE_COLUMNS[j],
        )
    return {"images": table.pixels(name), "keypoints": keypoints}, name, member, fingerprint


def load_training(source: str | Path | DataFiles, *, cache: bool = True) -> Dataset:
    """Load ``training.csv`` (or its zip, or the one found in a folder) as a :class:`Dataset`.

    The parsed arrays are kept in :func:`fkd.cache.parsed_dir`, so the next load of
    the same, unchanged file -- from any working directory -- reads them back instead
    of parsing. ``cache=False`` parses and keeps nothing (tests, benchmarks).
    """
    path = _training_path(source)
    arrays, name, fingerprint = _load_cached(path, "training", _TRAINING_ARRAYS, _parse_training, cache)
    return Dataset(arrays["images"], arrays["keypoints"], name, fingerprint)


def _parse_test(path: Path) -> tuple[dict[str, np.ndarray], str, str | None, str]:
    table, name, member, fingerprint = _split_table(path, "test.csv", TEST_COLUMNS)
    ids = _parse_numbers(table.frame, ("ImageId",), name)[:, 0]
    if np.isnan(ids).any() or (ids != np.round(ids)).any():
        i = int(np.argmax(np.isnan(ids) | (ids != np.round(ids))))
        raise DataError("ImageId must be a whole number", file=name, row=_line(i), column="ImageId")
    image_ids = ids.astype(np.int64)
    duplicated = pd.Series(image_ids).duplicated().to_numpy()
    if duplicated.any():
        i = int(np.argmax(duplicated))
        raise DataError(f"ImageId {image_ids[i]} appears twice", file=name, row=_line(i), column="ImageId")
    return {"image_ids": image_ids, "images": table.pixels(name)}, name, member, fingerprint


def load_test(source: str | Path | DataFiles, *, cache: bool = True) -> TestSet:
    """Load ``test.csv`` (or its zip, or the one found in a folder) as a :class:`TestSet`.

    Cached like :func:`load_training`; ``cache=False`` parses and keeps nothing.
    """
    if isinstance(source, DataFiles):
        if source.test is None:
            raise DataError("no test.csv or test.zip in this folder", file=source.root)
        path = source.test
    else:
        path = Path(source)
        if path.is_dir():
            return load_test(find_data(path), cache=cache)
    arrays, name, fingerprint = _load_cached(path, "test", _TEST_ARRAYS, _parse_test, cache)
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
