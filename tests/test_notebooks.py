"""The study's notebooks: their shape and text (fast), and a smoke report executing all of them (slow)."""

from __future__ import annotations

import json
import re
import shutil
import time
import warnings
from pathlib import Path

import nbformat
import pytest

from fkd.display import DEMO_BANNER_TEXT, SMOKE_BANNER_TEXT
from fkd.notebook import BOOTSTRAP_TAG, bootstrap_source, repository_url
from fkd.original import KNN_SWEEP_MSE, REPORTED, mse_to_pixels
from fkd.report import HIDDEN_TAGS, notebooks_dir, run_report, study_notebooks
from tests.helpers import REPO, foreign_lines

NOTEBOOKS = study_notebooks()
EXPECTED = ["01_eda", "02_baselines", "03_augmentation", "04_tuning", "05_appendix", "06_summary"]


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(path: Path) -> list[nbformat.NotebookNode]:
    return [c for c in read(path).cells if c.cell_type == "code"]


def test_the_six_study_notebooks_are_there():
    assert [path.stem for path in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs_and_every_cell_has_an_id(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nbformat's MissingIDFieldWarning would fail here
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5)
    ids = [cell.get("id") for cell in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_opens_with_a_header_a_bootstrap_cell_then_its_parameters(path):
    cells = read(path).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    assert "**Needs:**" in cells[0].source and "**Description:**" in cells[0].source
    code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
    assert BOOTSTRAP_TAG in cells[code[0]].metadata.get("tags", [])  # the first code cell installs fkd
    assert "parameters" in cells[code[1]].metadata.get("tags", [])  # the second holds the parameters
    assert sum("parameters" in c.metadata.get("tags", []) for c in cells) == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_bootstrap_cell_is_written_from_pyprojects_repository_url(path):
    """A notebook opened alone cannot read pyproject.toml: its copy of the address must match the one source."""
    url = repository_url((REPO / "pyproject.toml").read_text())
    (bootstrap,) = [c for c in read(path).cells if BOOTSTRAP_TAG in c.metadata.get("tags", [])]
    assert bootstrap.source == bootstrap_source(url), "run `python tools/sync_notebooks.py`"
    assert BOOTSTRAP_TAG in HIDDEN_TAGS  # and it is left out of rendered reports


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_is_used_and_explained(path):
    cells = read(path).cells
    (parameters,) = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    rest = "\n".join(c.source for c in cells if c.cell_type == "code" and c is not parameters)
    for line in parameters.source.splitlines():
        match = re.match(r"^(\w+)\s*:", line)
        if match:
            name = match.group(1)
            assert "#" in line, f"{name}: no comment explaining it"
            assert re.search(rf"\b{name}\b", rest), f"{name} is declared but never used"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_only_calls_fkd_and_defines_nothing(path):
    code = "\n".join(c.source for c in code_cells(path))
    assert not re.search(r"^\s*(def|class)\s|lambda\b", code, flags=re.MULTILINE)
    assert "study.banner()" in code and "timing(" in code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_cells_are_tagged_to_be_hidden_in_rendered_reports(path):
    for cell in code_cells(path):
        tags = cell.metadata.get("tags", [])
        if re.search(r"^(from|import) ", cell.source, flags=re.MULTILINE) and not {BOOTSTRAP_TAG, "parameters"} & set(
                tags):
            assert "setup" in tags, f"imports outside the setup cell: {cell.source[:60]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_ends_with_two_checked_exercises_and_going_further(path):
    cells = read(path).cells
    markdown = [c.source for c in cells if c.cell_type == "markdown"]
    assert "## Going further" in markdown[-1]
    checks = [c for c in code_cells(path) if re.search(r'^check\("\d\d-', c.source, flags=re.MULTILINE)]
    assert len(checks) >= 2 and all("answer = None" in c.source for c in checks)
    first_exercise = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Exercises" in c.source)
    assert all(cells.index(c) > first_exercise for c in checks)


def test_summary_shows_the_final_table_before_the_exercises_and_going_further():
    cells = read(notebooks_dir() / "06_summary.ipynb").cells
    table = next(i for i, c in enumerate(cells) if c.cell_type == "code" and "rmse_table(records)" in c.source)
    exercises = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Exercises" in c.source)
    assert table < exercises < len(cells) - 1


# --- no number typed by hand --------------------------------------------------------------

MEASURED = re.compile(
    r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s*(px|pixels?|s|sec|seconds?|min|minutes?|hours?|images/s|ms)\b")
STUDY_FIGURES = {f"{v:.2f}" for r in REPORTED.values() for v in (r.rmse, r.other) if v is not None} | {
    f"{mse_to_pixels(mse):.2f}" for mse in (*KNN_SWEEP_MSE.values(), 0.0026, 0.004444)}
GEOMETRY = {"96", "48", "95", "0", "1", "2", "4", "10", "15", "16", "30"}
"""The image's own geometry and counts (96 x 96 pixels, centre 48, 15 keypoints...), not measurements."""


def typed_measurements(text: str) -> list[str]:
    """Numbers with a unit of measure in ``text`` that are neither the study's figures nor fixed geometry."""
    found = []
    for number, unit in MEASURED.findall(text):
        value = number.replace(",", "")
        if value in GEOMETRY or f"{float(value):.2f}" in STUDY_FIGURES:
            continue
        found.append(f"{number} {unit}")
    return found


def test_the_typed_number_check_catches_a_measurement_and_allows_the_study():
    assert typed_measurements("best scored 1.768 px in 789 s; k-NN 5.97 pixels") == ["1.768 px", "789 s", "5.97 pixels"]
    assert typed_measurements("the study's 2.45 px and 3.14 px; the 96 x 96 image; 2.35 px") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_measured_quantity_is_typed_into_the_text(path):
    """Figures from runs are computed in cells or read from committed results, never typed into markdown."""
    for cell in read(path).cells:
        if cell.cell_type == "markdown":
            assert typed_measurements(cell.source) == [], cell.source[:80]


# --- executing them -----------------------------------------------------------------------


def _check_report(out: Path, runs_dir: Path, demo: bool) -> None:
    for stem in EXPECTED:
        assert (out / f"{stem}.html").is_file(), stem
    combined = (out / "report.html").read_text()
    summary = (out / "06_summary.html").read_text()
    names = {name for p in (runs_dir / "results").glob("*.json") for name in json.loads(p.read_text())["names"]}
    assert {"knn", "nn2", "cnn_baseline", "cnn_flip", "modelh_12", "cnn_flip_shift", "cnn_brightness"} <= names
    table = summary[summary.index("The final table"):]
    for name in names:
        assert re.search(rf"<td>[^<]*\b{name}\b", table), f"{name} missing from the final RMSE table"
    assert (DEMO_BANNER_TEXT.split(".")[0] in combined) == demo
    assert SMOKE_BANNER_TEXT.split(":")[0] in combined
    assert "import numpy" not in combined and "find_spec" not in combined  # setup cells hidden
    assert combined.index("The study against ours") < combined.index('<h1 id="Exploring-the-faces"')
    if shutil.which("xelatex") and shutil.which("pandoc"):
        assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.slow
def test_smoke_report_runs_every_notebook_on_demo_data_and_publishes_it(tmp_path, capfd):
    """The publishing path (`fkd report --publish`) at the smoke profile, into a folder standing in for a checkout."""
    from fkd.demo import write_demo_data
    from fkd.publish import PUBLISHED, published_problems, publish
    from fkd.report import notebooks_digest

    data = write_demo_data(tmp_path / "demo", n_train=300, n_test=20)
    runs_dir = tmp_path / "runs"
    began = time.perf_counter()
    result = publish(root=tmp_path, profile="smoke", demo=data, runs_dir=runs_dir)
    console = capfd.readouterr()
    assert foreign_lines(console.out + console.err) == []  # fkd's own lines and progress bars, nothing else
    print(f"smoke report on demo data: {time.perf_counter() - began:.0f} s")
    assert result.demo and set(result.notebook_seconds) >= set(EXPECTED)
    assert result.out == tmp_path / "reports"
    _check_report(result.out, runs_dir, demo=True)
    combined = (result.out / "report.html").read_text()
    assert DEMO_BANNER_TEXT.split(".")[0] in (result.out / "01_eda.html").read_text()
    # what the first page says: date, profile, machine and training speed, fkd version, notebook sources
    record = json.loads((result.out / PUBLISHED).read_text())
    assert record["notebooks_sha256"] == notebooks_digest() and record["notebooks_sha256"][:16] in combined
    assert record["profile"] == "smoke" and f"by fkd {record['fkd_version']}" in combined
    assert record["cpu_model"] in combined and "Training speed" in combined
    assert set(record["training_images_per_second"]) >= {"cnn_baseline", "modelh_12", "best"}
    pdfs = bool(shutil.which("xelatex") and shutil.which("pandoc"))
    assert all(problem.endswith(".pdf is missing") and not pdfs for problem in published_problems(tmp_path))
    (result.out / "06_summary.html").unlink()
    assert "reports/06_summary.html is missing" in published_problems(tmp_path)


# The same run on the real faces15 data is CI's job (.ci/run: fkd report ... then
# .ci/check_report.py), so the default suite stays well under ten minutes.


def _run_bootstrap(monkeypatch, url: str, pip_returncode: int = 0) -> list[list[str]]:
    """Run the bootstrap cell as a kernel would where fkd is not importable; return the commands it ran."""
    import importlib.util
    import subprocess
    from types import SimpleNamespace

    calls: list[list[str]] = []
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fkd" else real_find_spec(name, *a))
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: calls.append(command) or SimpleNamespace(
        returncode=pip_returncode))
    exec(bootstrap_source(url), {})
    return calls


def test_a_notebook_opened_without_fkd_and_no_known_address_stops_with_one_line(monkeypatch):
    monkeypatch.delenv("FKD_INSTALL_SOURCE", raising=False)
    with pytest.raises(SystemExit, match="fkd is not installed, and this notebook does not know where to get it"):
        _run_bootstrap(monkeypatch, "https://github.com/REPLACE-WITH-OWNER/fkd")


def test_the_bootstrap_cell_installs_from_the_override_or_the_public_address(monkeypatch):
    monkeypatch.setenv("FKD_INSTALL_SOURCE", "/somewhere/fkd")
    (command,) = _run_bootstrap(monkeypatch, "https://github.com/REPLACE-WITH-OWNER/fkd")
    assert command[-1] == "/somewhere/fkd" and command[1:4] == ["-m", "pip", "install"]
    monkeypatch.delenv("FKD_INSTALL_SOURCE")
    (command,) = _run_bootstrap(monkeypatch, "https://github.com/someone/fkd")
    assert command[-1] == "git+https://github.com/someone/fkd"


def test_a_failed_install_stops_with_one_line_not_a_pip_traceback(monkeypatch):
    monkeypatch.setenv("FKD_INSTALL_SOURCE", "/no/such/fkd")
    with pytest.raises(SystemExit, match="pip could not install fkd from /no/such/fkd"):
        _run_bootstrap(monkeypatch, "https://github.com/someone/fkd", pip_returncode=1)
