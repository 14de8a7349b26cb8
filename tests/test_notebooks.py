"""The study's notebooks: their shape (fast), and a full smoke report executing all of them (slow)."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from fkd.display import DEMO_BANNER_TEXT
from fkd.report import notebooks_dir, run_report, study_notebooks

NOTEBOOKS = study_notebooks()
EXPECTED = ["01_eda", "02_baselines", "03_augmentation", "04_tuning", "05_appendix", "06_summary"]


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_the_six_study_notebooks_are_there():
    assert [path.stem for path in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    for cell in read(path).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_opens_with_a_header_then_its_parameters(path):
    cells = read(path).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    assert "**Needs:**" in cells[0].source and "**Description:**" in cells[0].source
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] <= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_only_calls_fkd_and_defines_nothing(path):
    code = "\n".join(c.source for c in read(path).cells if c.cell_type == "code")
    assert not re.search(r"^\s*(def|class)\s|lambda\b", code, flags=re.MULTILINE)
    assert "demo_banner(data_files)" in code
    assert "assert " in code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_ends_with_going_further(path):
    markdown = [c.source for c in read(path).cells if c.cell_type == "markdown"]
    assert "## Going further" in markdown[-1]


def test_summary_ends_with_the_final_table():
    last = read(notebooks_dir() / "06_summary.ipynb").cells[-1]
    assert last.cell_type == "code" and "final_table(" in last.source.splitlines()[-1]


def _check_report(out: Path, runs_dir: Path, demo: bool) -> None:
    for stem in EXPECTED:
        assert (out / f"{stem}.html").is_file(), stem
    combined = (out / "report.html").read_text()
    summary = (out / "06_summary.html").read_text()
    models = {json.loads(p.read_text())["model"] for p in (runs_dir / "results").glob("*.json")}
    assert {"knn", "nn2", "cnn_baseline", "cnn_flip"} <= models
    table = summary[summary.rindex("<table"):]
    for model in models:
        assert f"<td>{model}" in table, f"{model} missing from the final RMSE table"
    assert combined.rindex("<td>nn2") > combined.rindex("Going further")  # the table closes the report
    assert (DEMO_BANNER_TEXT.split(".")[0] in combined) == demo
    if shutil.which("xelatex") and shutil.which("pandoc"):
        assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.slow
def test_smoke_report_runs_every_notebook_on_demo_data(tmp_path):
    from fkd.demo import write_demo_data

    data = write_demo_data(tmp_path / "demo", n_train=300, n_test=20)
    runs_dir = tmp_path / "runs"
    began = time.perf_counter()
    result = run_report(data=data, profile="smoke", out=tmp_path / "reports", params={"runs_dir": runs_dir})
    print(f"smoke report on demo data: {time.perf_counter() - began:.0f} s")
    assert result.demo
    _check_report(result.out, runs_dir, demo=True)
    assert DEMO_BANNER_TEXT.split(".")[0] in (result.out / "01_eda.html").read_text()


# The same run on the real faces15 data is CI's job (.ci/run: fkd report ... then
# .ci/check_report.py), so the default suite stays well under ten minutes.
