"""Writes the system refuses -- a full disk, a file-size limit, a read-only folder -- end in one line naming
the folder, and cost nothing written before: every writer goes through fkd.atomic.

A full disk is a real one: a small tmpfs mounted for the test (needs root, or CAP_SYS_ADMIN; the tests
say so and skip where mounting is not permitted). A file-size limit is a real RLIMIT_FSIZE set in a
subprocess with SIGXFSZ ignored, so the kernel refuses the write with EFBIG; it needs no privilege. A
read-only folder is a tmpfs remounted read-only, which refuses root as well (permission bits do not),
or, for a user other than root, a folder without write permission.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest

from fkd import atomic
from fkd.atomic import DestinationError, WriteError, write_all, write_json, write_text
from fkd.cli import main
from fkd.demo import write_demo_data

FULL = "the disk is full; free some space and run again (nothing half-written was left)"


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        pytest.skip("no mount command: a real full disk needs a small tmpfs (the RLIMIT_FSIZE test still runs)")
    if done.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here ({done.stderr.strip()}); a real full disk "
                    "needs root or CAP_SYS_ADMIN (the RLIMIT_FSIZE test still runs)")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mounts small tmpfs file systems (``small_disk("16m")``), unmounted after the test."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        _mount_tmpfs(folder, size)
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=True, timeout=60)


def _fill(folder: Path) -> None:
    """Take every free byte of ``folder``'s file system, as a user's other files would."""
    stats = os.statvfs(folder)
    with open(folder / "filler", "wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, stats.f_bavail * stats.f_frsize)
    assert os.statvfs(folder).f_bavail == 0


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (temporary ones included) and its bytes, but the filler."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "filler"}


@pytest.fixture
def faces(tmp_path: Path) -> Path:
    """Demo faces enough for k-NN's k of 5 (their banner is the one other line a command prints)."""
    return write_demo_data(tmp_path / "faces", n_train=40, n_test=4)


def _one_error_line(err: str) -> str:
    """The command's error line, checked to be its only one, last, and without a traceback."""
    assert "Traceback" not in err and err.count("fkd: error:") == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("fkd: error: "), err
    return last


# --- a full disk ------------------------------------------------------------------------------


@pytest.mark.parametrize("model, folder, suffix", [("nn2", "models", ".keras"), ("knn", "results", ".json")],
                         ids=["saving a model", "writing a run record"])
def test_a_full_disk_while_training_is_one_line_and_keeps_the_earlier_runs(small_disk, faces, capsys,
                                                                          model, folder, suffix):
    disk = small_disk("16m")
    runs = disk / "runs"
    common = ["train", "--data", str(faces), "--model", model, "--epochs", "1", "--runs-dir", str(runs)]
    assert main([*common, "--seed", "1"]) == 0
    earlier = _files(disk)
    assert any(name.endswith(suffix) for name in earlier)
    _fill(disk)
    capsys.readouterr()

    code = main([*common, "--seed", "2"])

    line = _one_error_line(capsys.readouterr().err)
    assert code == 1
    assert re.fullmatch(rf"fkd: error: cannot write \S+{re.escape(suffix)} into {re.escape(str(runs / folder))}: "
                        + re.escape(FULL), line), line
    assert _files(disk) == earlier  # the earlier model and record byte for byte; nothing new, no temporary file


def test_a_full_disk_while_writing_a_submission_keeps_the_earlier_one(small_disk, faces, tmp_path, capsys):
    runs = ["--data", str(faces), "--model", "knn", "--runs-dir", str(tmp_path / "runs")]
    assert main(["train", *runs]) == 0
    disk = small_disk("1m")
    submission = disk / "submission.csv"
    submission.write_text("the earlier submission")
    _fill(disk)
    capsys.readouterr()

    code = main(["predict", *runs, "--submission", str(submission)])

    line = _one_error_line(capsys.readouterr().err)
    assert code == 1 and line == f"fkd: error: cannot write submission.csv into {disk}: {FULL}"
    assert _files(disk) == {"submission.csv": b"the earlier submission"}


def test_a_full_disk_when_a_report_starts_keeps_the_earlier_report(small_disk, kaggle_dir, tmp_path, capsys):
    notebook = tmp_path / "01_tiny.ipynb"
    cell = nbformat.v4.new_code_cell("seed = 42")
    cell.metadata["tags"] = ["parameters"]
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(nbformat.v4.new_notebook(cells=[cell], metadata=kernel), notebook)
    disk = small_disk("1m")
    (disk / "reports").mkdir()
    (disk / "reports" / "report.html").write_text("the earlier report")
    _fill(disk)

    code = main(["report", "--data", str(kaggle_dir), "--out", str(disk / "reports"), "--notebooks", str(notebook)])

    line = _one_error_line(capsys.readouterr().err)
    assert code == 1 and line.startswith(f"fkd: error: cannot write .fkd-report.pid into {disk / 'reports'}: ")
    assert line.endswith(FULL)
    # Only the lock's empty file may stay (see fkd.lock); nothing was run, staged or half-written.
    assert _files(disk) == {"reports/report.html": b"the earlier report", "reports/.fkd-report.lock": b""}


def test_the_atomic_writers_keep_the_earlier_file_on_a_full_disk(small_disk):
    disk = small_disk("1m")
    earlier = {"a.json": b'{"earlier": true}\n', "b.txt": b"b", "c.txt": b"c"}
    for name, payload in earlier.items():
        (disk / name).write_bytes(payload)
    _fill(disk)
    for write in (lambda: write_json(disk / "a.json", {"x": list(range(10_000))}),
                  lambda: write_text(disk / "new" / "d.txt", "d" * 10_000),
                  lambda: write_all([(disk / "b.txt", b"B" * 10_000), (disk / "c.txt", b"C" * 10_000)])):
        with pytest.raises(WriteError, match=re.escape(FULL)) as caught:
            write()
        assert caught.value.errno == 28 and isinstance(caught.value, OSError)  # the parse cache still tolerates it
    assert _files(disk) == earlier


# --- a file-size limit (no privilege needed) ----------------------------------------------------

LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process; ignored, the write fails
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from fkd.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_model_over_the_file_size_limit_is_one_line_and_keeps_the_earlier_runs(kaggle_dir, tmp_path):
    runs = tmp_path / "runs"
    common = ["train", "--data", str(kaggle_dir), "--model", "nn2", "--epochs", "1", "--runs-dir", str(runs)]
    assert main([*common, "--seed", "1"]) == 0  # also fills the parse cache, so the limited run reads it
    earlier = _files(runs)
    (model,) = (runs / "models").iterdir()
    limit = model.stat().st_size // 4  # a quarter of a model: the write that crosses it is refused

    done = subprocess.run([sys.executable, "-c", LIMITED, str(limit), *common, "--seed", "2"],
                          capture_output=True, text=True, timeout=600)

    line = _one_error_line(done.stderr)
    assert done.returncode == 1
    assert re.fullmatch(rf"fkd: error: cannot write \S+\.keras into {re.escape(str(runs / 'models'))}: the file is "
                        r"over the size limit of this file system or process; raise the limit \(ulimit -f\) or "
                        r"write to another disk and run again \(nothing half-written was left\)", line), line
    assert _files(runs) == earlier


# --- a read-only folder ---------------------------------------------------------------------------


@pytest.fixture
def read_only(small_disk, tmp_path) -> Iterator[Path]:
    """A folder holding an earlier file, which no write can change: for root, whom permission bits do not
    stop, a tmpfs remounted read-only; for anyone else, a folder without write permission."""
    if os.geteuid() == 0:
        folder = small_disk("1m")
        (folder / "earlier.txt").write_text("earlier")
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, timeout=60)
        yield folder
    else:
        folder = tmp_path / "read-only"
        folder.mkdir()
        (folder / "earlier.txt").write_text("earlier")
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


@pytest.mark.parametrize("args, what, target", [
    (["predict", "--model", "knn", "--submission", "{ro}/s.csv"], "submission", "{ro}/s.csv"),
    (["predict", "--model", "knn", "--image", "{photo}", "--out", "{ro}/me.png"], "annotated photo", "{ro}/me.png"),
    (["train", "--model", "knn", "--runs-dir", "{ro}/runs"], "run records and models", "{ro}/runs"),
    (["report", "--out", "{ro}/reports"], "report", "{ro}/reports"),
], ids=["submission", "annotated photo", "runs folder", "report folder"])
def test_a_read_only_destination_is_refused_in_one_line_before_any_work(read_only, tmp_path, kaggle_dir, capsys,
                                                                       args, what, target):
    names = {"ro": read_only, "photo": tmp_path / "me.jpg"}
    code = main([*(arg.format(**names) for arg in args), "--data", str(kaggle_dir)])
    err = capsys.readouterr().err
    assert code == 1 and err == (f"fkd: error: {read_only}: is read-only or not writable by you, so the {what} "
                                 f"({target.format(**names)}) cannot be written there\n")
    assert _files(read_only) == {"earlier.txt": b"earlier"} and not (tmp_path / "runs").exists()


def test_the_atomic_writers_refuse_a_read_only_folder_in_one_line(read_only):
    with pytest.raises(WriteError) as caught:
        write_text(read_only / "earlier.txt", "new")
    why = ("the folder is on a read-only file system" if os.geteuid() == 0 else "permission denied")
    assert str(caught.value) == (f"cannot write earlier.txt into {read_only}: {why}; choose a folder you can write "
                                 "to and run again (nothing half-written was left)")
    assert _files(read_only) == {"earlier.txt": b"earlier"}


@pytest.mark.parametrize("under", ["notes.txt", "notes.txt/deeper"], ids=["a file as its folder", "under a file"])
def test_the_atomic_writers_refuse_a_file_where_a_folder_belongs_in_one_line(tmp_path, under):
    (tmp_path / "notes.txt").write_text("notes")
    target = tmp_path / under / "record.json"
    with pytest.raises(WriteError, match=re.escape(f"cannot write record.json into {target.parent}: a file stands "
                                                   "where a folder is needed; choose a folder you can write to")):
        write_json(target, {"x": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_output_folder_under_a_file_is_refused_before_any_work(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("notes")
    with pytest.raises(DestinationError, match=re.escape(f"{a_file}: is a file, not a folder; give a folder for")):
        atomic.check_folder(a_file, "report")
    with pytest.raises(DestinationError, match=re.escape(f"{a_file}: is a file, so the folder for the report ")):
        atomic.check_folder(a_file / "reports" / "2024", "report")
    assert atomic.check_folder(tmp_path / "new" / "reports", "report") == tmp_path / "new" / "reports"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # nothing made
