"""run_report: parameter checks, the lock, failures, the PDF fallback and the combined report.

Notebooks here are tiny throwaway ones written into tmp_path, so each execution
costs only a kernel start-up; the study's notebooks are run in test_notebooks.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from fkd import report
from fkd.data import DataFiles
from fkd.display import DEMO_BANNER_TEXT, demo_banner
from fkd.lock import LOCK_NAME, PID_NAME, ReportLocked, report_lock
from fkd.parameters import ParameterError, notebook_parameters, validate_parameters
from fkd.profiles import DEFAULT_PROFILE, get_profile
from fkd.report import OUTPUT_ONLY_TAG, PDF_INSTALL_HINT, NotebookFailed, run_report
from fkd.results import rmse_table

PARAMETERS = '''
from typing import Optional

data_dir: Optional[str] = None  # folder with the data
seed: int = 42
rate: float = 0.5
names: list[str] = ["a", "b"]
ks: Optional[list[int]] = None
verbose: bool = False
'''


def write_notebook(path: Path, *cells: str, parameters: str = PARAMETERS, markdown: str = "") -> Path:
    nb = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    })
    if markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    params = nbformat.v4.new_code_cell(parameters.strip())
    params.metadata["tags"] = ["parameters"]
    nb.cells.append(params)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def no_pdf(monkeypatch):
    """Pretend xelatex is not installed (HTML only: keeps these tests fast)."""
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "xelatex" else real_which(name, *a, **k))


@pytest.fixture
def good(tmp_path: Path) -> Path:
    folder = tmp_path / "nbs"
    folder.mkdir()
    return write_notebook(folder / "01_good.ipynb", 'print(f"data in {data_dir}, seed {seed}")',
                          markdown="# A good notebook")


def test_unknown_parameter_is_rejected_with_the_valid_ones_listed(good):
    with pytest.raises(ParameterError) as caught:
        validate_parameters(good, {"sede": 1})
    message = str(caught.value)
    assert "'sede'" in message
    for name in ("data_dir", "seed", "rate", "names", "ks", "verbose"):
        assert name in message
    assert "seed: int = 42" in message


@pytest.mark.parametrize("name, value", [
    ("seed", "42"), ("seed", 4.2), ("seed", True), ("rate", "fast"), ("names", ["a", 1]),
    ("names", "a"), ("ks", [1, "2"]), ("verbose", 1), ("data_dir", 3),
])
def test_ill_typed_parameter_is_rejected(good, name, value):
    with pytest.raises(ParameterError, match=f"parameter '{name}' must be"):
        validate_parameters(good, {name: value})


def test_well_typed_parameters_are_returned_ready_for_papermill(good, tmp_path):
    cleaned = validate_parameters(good, {
        "seed": 7, "rate": 1, "names": ("x",), "ks": None, "data_dir": tmp_path, "verbose": True,
    })
    assert cleaned == {"seed": 7, "rate": 1, "names": ["x"], "ks": None, "data_dir": str(tmp_path),
                       "verbose": True}


def test_a_parameter_declared_by_any_of_several_notebooks_is_valid(good, tmp_path):
    other = write_notebook(tmp_path / "02_other.ipynb", "pass", parameters="n_faces: int = 16")
    assert validate_parameters([good, other], {"n_faces": 4, "seed": 1}) == {"n_faces": 4, "seed": 1}
    with pytest.raises(ParameterError, match=r"n_faces: int = 16  \[02_other\]"):
        validate_parameters([good, other], {"nope": 1})


def test_the_study_notebooks_declare_the_common_parameters():
    for path in report.study_notebooks():
        declared = notebook_parameters(path)
        assert {"data_dir", "profile", "seed", "runs_dir"} <= set(declared), path.name


def test_bad_parameters_stop_the_report_before_anything_is_written(good, tmp_path, kaggle_dir):
    out = tmp_path / "reports"
    with pytest.raises(ParameterError, match="unknown parameter"):
        run_report(data=kaggle_dir, out=out, params={"epochs": 3}, notebooks=[str(good)])
    with pytest.raises(ParameterError, match="data="):
        run_report(data=kaggle_dir, out=out, params={"data_dir": "x"}, notebooks=[str(good)])
    assert not out.exists()


def test_unknown_profile_is_rejected_before_anything_runs(good, tmp_path, kaggle_dir):
    with pytest.raises(report.ReportError, match="smoke"):
        run_report(data=kaggle_dir, profile="quick", out=tmp_path / "r", notebooks=[str(good)])


def test_a_held_lock_refuses_a_second_report_with_a_clear_message(good, tmp_path, kaggle_dir):
    out = tmp_path / "reports"
    with report_lock(out):
        with pytest.raises(ReportLocked, match=f"process {os.getpid()}.*choose another --out"):
            run_report(data=kaggle_dir, out=out, notebooks=[str(good)])


HOLD_LOCK = """
import sys, time
from pathlib import Path
from fkd.lock import report_lock
with report_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_lock_held_by_another_process_is_refused_and_released_when_it_dies(good, tmp_path, kaggle_dir, no_pdf):
    out = tmp_path / "reports"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ReportLocked, match=f"process {holder.pid}"):
            run_report(data=kaggle_dir, out=out, notebooks=[str(good)])
    finally:
        holder.kill()  # no clean-up runs: the OS releases the lock of a killed process
        holder.wait()
    result = run_report(data=kaggle_dir, out=out, notebooks=[str(good)])
    assert (out / "01_good.html").is_file() and result.html
    assert not (out / PID_NAME).exists()


def test_the_lock_imports_and_works_without_fcntl(tmp_path):
    """On Windows there is no fcntl: fkd.report, the CLI and the lock must still import and lock."""
    code = (
        "import sys, warnings; sys.modules['fcntl'] = None; warnings.simplefilter('ignore')\n"
        "import fkd.cli, fkd.report\n"
        "from pathlib import Path\n"
        "from fkd.lock import report_lock\n"
        f"with report_lock(Path({str(tmp_path / 'out')!r})) as path: print('locked', path.name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "locked .fkd-report.lock"


def test_a_failing_notebook_keeps_its_partial_output_and_the_earlier_report(tmp_path, kaggle_dir, no_pdf,
                                                                           capsys):
    out = tmp_path / "reports"
    out.mkdir()
    earlier = out / "01_ok.html"
    earlier.write_text("the previous report")
    folder = tmp_path / "nbs"
    folder.mkdir()
    write_notebook(folder / "01_ok.ipynb", "print('fine')")
    write_notebook(folder / "02_bad.ipynb", "x = 1", "print('before the error')",
                   "raise ValueError('the faces are upside down')", "print('never')")

    with pytest.raises(NotebookFailed) as caught:
        run_report(data=kaggle_dir, out=out, notebooks=[str(p) for p in sorted(folder.glob("*.ipynb"))])

    error = caught.value
    assert "ValueError: the faces are upside down" in str(error)
    assert "In [5]" in str(error) and "raise ValueError" in str(error)
    printed = capsys.readouterr().err
    assert "raise ValueError('the faces are upside down')" in printed and "Traceback" in printed
    assert error.partial == out / "failed" / "02_bad.ipynb"
    partial = nbformat.read(error.partial, as_version=4)
    outputs = [o for cell in partial.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert any(o.get("ename") == "ValueError" for o in outputs)
    assert any("before the error" in o.get("text", "") for o in outputs)
    assert earlier.read_text() == "the previous report"
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME, "01_ok.html", "failed"]  # the lock file stays, free
    assert (out / "failed" / "kernels.log").is_file()  # the kernels' own stderr, for debugging
    assert not list(tmp_path.glob(".fkd-report-tmp-*"))


def test_without_xelatex_the_html_is_written_and_the_install_line_printed(good, tmp_path, kaggle_dir, no_pdf,
                                                                          capsys):
    result = run_report(data=kaggle_dir, out=tmp_path / "reports", notebooks=[str(good)])
    assert result.pdf == [] and "xelatex" in result.pdf_skipped
    assert {p.name for p in result.html} == {"01_good.html", "report.html"}
    assert all(p.is_file() for p in result.html)
    assert PDF_INSTALL_HINT in capsys.readouterr().err
    # the hint names the packages CI installs to render PDFs, so following it is known to work
    ci_script = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    ci_packages = set(ci_script.split("--no-install-recommends", 1)[1].split(">")[0].replace("\\", " ").split())
    hinted = set(PDF_INSTALL_HINT.split("--no-install-recommends", 1)[1].split())
    assert {"texlive-xetex", "pandoc"} <= hinted <= ci_packages


def test_the_combined_report_holds_every_notebook_in_order_without_injected_parameters(
        tmp_path, kaggle_dir, no_pdf):
    folder = tmp_path / "nbs"
    folder.mkdir()
    write_notebook(folder / "01_first.ipynb", "print('FIRST OUTPUT', seed)", markdown="# First")
    write_notebook(folder / "02_second.ipynb", "print('SECOND OUTPUT')", markdown="# Second")
    from fkd.configs import get_config
    from fkd.data import load_training
    from fkd.results import RunKey, write_record

    smoke = get_profile("smoke")
    knn = get_config("knn")
    fingerprint = load_training(kaggle_dir).fingerprint
    for seed, score in ((5, 2.5), (6, 1.0)):  # the report's seed, and another the headline must not pick
        key = RunKey(knn, fingerprint, "study", seed, smoke.epochs_for(knn), smoke.max_train_rows)
        write_record(tmp_path / "runs", key, {"n_train": 5, "val_rmse": score, "seconds": 0.1, "history": {}})

    result = run_report(data=kaggle_dir, profile="smoke", out=tmp_path / "reports", params={"seed": 5},
                        notebooks=[str(p) for p in sorted(folder.glob("*.ipynb"))])

    combined = nbformat.read(result.out / "report.ipynb", as_version=4)
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in combined.cells)
    executed = nbformat.read(result.out / "01_first.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    html = (result.out / "report.html").read_text()
    # the report opens with the headline table (the study's 2.45 beside our recorded 2.5), then the notebooks
    study_figure = re.search(r"2\.45\s*<", html).start()
    assert study_figure < html.index("2.500") < html.index("FIRST OUTPUT 5") < html.index("SECOND OUTPUT")
    assert "profile" in combined.cells[0].source.lower() and "Machine:" in combined.cells[0].source
    # the headline table is a cell output (its code hidden), so the PDF sets it with the Table's own LaTeX
    (headline,) = [c for c in combined.cells if OUTPUT_ONLY_TAG in c.metadata.get("tags", [])]
    latex = headline.outputs[0]["data"]["text/latex"]
    assert "2.45" in latex and "2.500" in latex and "1.000" not in latex and "headline_table" not in html
    assert len({c.id for c in combined.cells}) == len(combined.cells)
    assert not list(tmp_path.glob(".fkd-report-tmp-*"))


def test_the_runs_folder_defaults_to_runs_beside_the_output_folder(tmp_path, kaggle_dir, no_pdf):
    nb = write_notebook(tmp_path / "01_runs.ipynb", "print('RUNS', runs_dir)",
                        parameters='runs_dir: str = "../runs"')
    result = run_report(data=kaggle_dir, out=tmp_path / "reports", notebooks=[str(nb)])
    assert f"RUNS {tmp_path / 'runs'}" in (result.out / "01_runs.html").read_text()


def test_rendered_parameters_show_the_home_folder_as_a_tilde(good, tmp_path, kaggle_dir, no_pdf, monkeypatch):
    """A report is read elsewhere (the published one is committed): it must not name the account it ran under."""
    monkeypatch.setenv("HOME", str(kaggle_dir.parent))
    result = run_report(data=kaggle_dir, out=tmp_path / "reports", notebooks=[str(good)])
    html = (result.out / "01_good.html").read_text()
    assert f"~/{kaggle_dir.name}" in html and str(kaggle_dir) not in html.replace(f"data in {kaggle_dir}", "")
    executed = nbformat.read(result.out / "01_good.ipynb", as_version=4)  # kept runnable: the real path
    (injected,) = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert f'data_dir = "{kaggle_dir}"' in injected.source


@pytest.mark.skipif(shutil.which("xelatex") is None or shutil.which("pandoc") is None,
                    reason="xelatex and pandoc are needed for PDFs")
def test_pdfs_are_written_when_latex_is_installed(good, tmp_path, kaggle_dir):
    result = run_report(data=kaggle_dir, out=tmp_path / "reports", notebooks=[str(good)])
    assert {p.name for p in result.pdf} == {"01_good.pdf", "report.pdf"}
    assert all(p.read_bytes().startswith(b"%PDF") for p in result.pdf)


def test_demo_banner_is_loud_in_every_format_for_demo_data(tmp_path):
    banner = demo_banner(DataFiles(root=tmp_path, training=tmp_path / "training.csv", demo=True))
    assert DEMO_BANNER_TEXT in repr(banner)
    assert "synthetic demo data" in banner._repr_html_() and "border" in banner._repr_html_()
    latex = banner._repr_latex_()
    assert "fcolorbox" in latex and r"\texttt{fkd report --data DIR}" in latex
    assert "**" in banner._repr_markdown_()


def test_demo_banner_only_names_the_folder_for_real_data(tmp_path):
    banner = demo_banner(DataFiles(root=tmp_path, training=tmp_path / "training.csv", demo=False))
    assert repr(banner) == f"Data: {tmp_path}"
    assert "synthetic" not in banner._repr_html_()


def test_final_table_renders_every_run_in_html_latex_and_text():
    runs = [{"model": name, "split": "study", "config": {"missing": "dropna"}, "seed": 42, "epochs": 2, "n_learned": 9,
             "val_rmse": rmse, "seconds": 1.0} for name, rmse in (("nn2", 3.0), ("cnn_flip", 1.5))]
    table = rmse_table(runs)
    for text in (table._repr_html_(), repr(table), table._repr_markdown_()):
        assert "nn2" in text and "cnn_flip" in text
    latex = table._repr_latex_()
    assert r"cnn\_flip" in latex and "longtable" in latex and "adjustbox" not in latex  # body-size type
    assert repr(table).index("cnn_flip") < repr(table).index("nn2")  # best first
    with pytest.raises(ValueError, match="no runs"):
        rmse_table([])


def test_a_name_column_beside_long_text_gets_its_longest_name_whole():
    """The headline table once set `cnn_baseline` into the next column: a word cannot wrap."""
    import re

    from fkd.display import Table

    table = Table(["Model", "What it is", "Study (px)"],
                  [["cnn_baseline", "the study's baseline: two convolutions, one max-pool, dense 50 " * 2, 2.09]])
    widths = [float(w) for w in re.findall(r"p\{\\dimexpr ([\d.]+)\\linewidth", table._repr_latex_())]
    assert len(widths) == 3 and widths[0] * 16.5 >= len("cnn_baseline") * 0.25 and sum(widths) <= 1.0


@pytest.fixture
def study_of_three(tmp_path, monkeypatch) -> Path:
    """Three tiny notebooks standing in for the study's, so that --notebooks can be tried in seconds."""
    folder = tmp_path / "study"
    folder.mkdir()
    for n in (1, 2, 3):
        write_notebook(folder / f"0{n}_part.ipynb", f"print('PART {n}', seed)", markdown=f"# Part {n}")
    monkeypatch.setattr(report, "notebooks_dir", lambda: folder)
    return folder


def test_some_notebooks_rebuild_the_combined_report_from_every_executed_one(study_of_three, tmp_path, kaggle_dir,
                                                                          no_pdf):
    out = tmp_path / "reports"
    run_report(data=kaggle_dir, out=out, params={"seed": 7})
    first = (out / "01_part.html").stat().st_mtime_ns
    result = run_report(data=kaggle_dir, out=out, params={"seed": 7}, notebooks=["02_part"])
    assert result.combined and set(result.notebook_seconds) == {"02_part", "rendering"}
    assert (out / "01_part.html").stat().st_mtime_ns == first  # not executed again
    combined = (out / "report.html").read_text()
    assert combined.index("PART 1 7") < combined.index("PART 2 7") < combined.index("PART 3 7")


def test_some_notebooks_leave_the_combined_report_alone_when_others_are_missing_or_differ(
        study_of_three, tmp_path, kaggle_dir, no_pdf, capsys):
    out = tmp_path / "reports"
    run_report(data=kaggle_dir, out=out, params={"seed": 7})
    before = (out / "report.html").read_text()
    result = run_report(data=kaggle_dir, out=out, params={"seed": 8}, notebooks=["02_part"])  # another seed
    assert not result.combined and (out / "report.html").read_text() == before
    assert "left as it was" in capsys.readouterr().err
    (out / "03_part.ipynb").unlink()
    assert not run_report(data=kaggle_dir, out=out, params={"seed": 7}, notebooks=["02_part"]).combined


def test_the_report_records_its_times_and_the_next_one_estimates_from_them(study_of_three, tmp_path, kaggle_dir,
                                                                         no_pdf, capsys):
    out = tmp_path / "reports"
    run_report(data=kaggle_dir, out=out)
    assert "no earlier timing" in capsys.readouterr().err
    run_report(data=kaggle_dir, out=out)
    assert f"the last {DEFAULT_PROFILE} report on these data took" in capsys.readouterr().err


def test_the_estimate_falls_back_on_the_benchmark_only_for_the_notebooks_it_measured(tmp_path, monkeypatch):
    from fkd import benchmark

    measured = {"report": {"smoke": {"notebooks": {"01_eda": 20.0, "02_baselines": 40.0}}},
                "data": {"source": "faces15/training.zip"}, "hardware": {"logical_cores": 2, "cpu_model": "AMD EPYC"}}
    monkeypatch.setattr(benchmark, "published", lambda: measured)
    line = report._estimate_line(tmp_path, "smoke", "abc", [Path("01_eda.ipynb"), Path("02_baselines.ipynb")])
    assert "about 60 s on a 2-core AMD EPYC" in line and "faces15" in line
    assert report._estimate_line(tmp_path, "smoke", "abc", [Path("01_mine.ipynb")]) == \
        "no earlier timing to estimate from"
    assert report._estimate_line(tmp_path, "standard", "abc", [Path("01_eda.ipynb")]) == \
        "no earlier timing to estimate from"
