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

from fkd.classroom import SOLUTION_TAG, solution_lines
from fkd.display import DEMO_BANNER_TEXT, SMOKE_BANNER_TEXT
from fkd.exercises import EXERCISES
from fkd.notebook import BOOTSTRAP_TAG, bootstrap_source, repository_url
from fkd.original import KNN_SWEEP_MSE, REPORTED, mse_to_pixels
from fkd.report import HIDDEN_TAGS, OUTPUT_ONLY_TAG, notebooks_dir, study_notebooks
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


def _implement_it(cell: nbformat.NotebookNode) -> bool:
    """A cell where a student writes a function: an implement-it exercise's cell."""
    key = cell.metadata.get("classroom", {}).get("exercise")
    return key in EXERCISES and EXERCISES[key].kind == "implement"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_only_calls_fkd_and_defines_nothing_but_the_students_functions(path):
    code = "\n".join(c.source for c in code_cells(path) if not _implement_it(c))
    assert not re.search(r"^\s*(def|class)\s|lambda\b", code, flags=re.MULTILINE)
    assert "study.banner()" in code and "timing(" in code
    written = [c for c in code_cells(path) if _implement_it(c) and re.search(r"^def ", c.source, flags=re.MULTILINE)]
    for cell in written:  # one function each, the one its check takes
        key = cell.metadata["classroom"]["exercise"]
        assert re.findall(r"^def (\w+)", cell.source, flags=re.MULTILINE) == [EXERCISES[key].function]
        assert not re.search(r"^\s*class\s|lambda\b", cell.source, flags=re.MULTILINE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_cells_are_tagged_to_be_hidden_in_rendered_reports(path):
    for cell in code_cells(path):
        tags = cell.metadata.get("tags", [])
        if re.search(r"^(from|import) ", cell.source, flags=re.MULTILINE) and not {BOOTSTRAP_TAG, "parameters"} & set(
                tags):
            assert "setup" in tags, f"imports outside the setup cell: {cell.source[:60]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_states_three_to_five_learning_objectives_under_its_header(path):
    cells = read(path).cells
    assert cells[1].cell_type == "markdown" and cells[1].source.startswith("## Learning objectives")
    bullets = [line for line in cells[1].source.splitlines() if line.startswith("* ")]
    assert 3 <= len(bullets) <= 5
    assert "Learning objectives" in "\n".join(c.source for c in cells if c.cell_type == "markdown")


CHECKER_CALL = re.compile(r'\bexercises\.(check|predict|reveal)\("(\d\d-[\w-]+)"')


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_asks_three_to_five_exercises_one_at_least_to_write_code_and_calls_the_checker_thrice(path):
    code = "\n".join(c.source for c in code_cells(path))
    calls = CHECKER_CALL.findall(code)
    assert len(calls) >= 3
    asked = {key for _, key in calls}
    assert asked == {key for key in EXERCISES if key.startswith(path.stem[:2])}
    kinds = [EXERCISES[key].kind for key in asked]
    assert 3 <= len(kinds) <= 5 and "implement" in kinds
    assert "check(\"" not in re.sub(r"exercises\.check\(", "", code)  # the retired check() cells are gone


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_ends_with_its_exercises_then_going_further(path):
    cells = read(path).cells
    markdown = [c.source for c in cells if c.cell_type == "markdown"]
    assert "## Going further" in markdown[-1] and "## Going further" in cells[-1].source
    exercises = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises"))
    tail = cells[exercises + 1:-1]
    assert tail and all(c.metadata.get("classroom", {}).get("place", "").startswith("exercises") for c in tail)
    assert all(c.metadata["classroom"]["exercise"] == "expected" for c in tail[-2:])


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


THRESHOLDS = sorted({text for exercise in EXERCISES.values() for text in (
    getattr(exercise, "question", ""), *(getattr(choice, "text", choice) for choice in getattr(exercise, "choices",
                                                                                               {}).values()))}
    - {""}, key=len, reverse=True)
"""The exercises' own questions and choices (a band's edges, "0.5 to 3 px", are the checker's, not measurements)."""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_measured_quantity_is_typed_into_the_text(path):
    """Figures from runs are computed in cells or read from committed results, never typed into markdown."""
    for cell in read(path).cells:
        if cell.cell_type == "markdown":
            text = cell.source
            for asked in THRESHOLDS:
                text = text.replace(asked, "")
            assert typed_measurements(text) == [], cell.source[:80]


# --- glossary links at first use ------------------------------------------------------------------

TERMS = {
    "epoch": r"\bepochs?\b", "dropout": r"\bdropout\b", "kernel": r"\bkernels?\b", "padding": r"\bpadding\b",
    "max-pool": r"\bmax-pool", "rmsprop": r"\bRMSprop\b", "adamw": r"\bAdamW\b", "tta": r"\bTTA\b",
    "papermill": r"\bpapermill\b", "rows-learned": r"\brows learned\b", "mean-face": r"\bmean face\b",
    "leak": r"\bleak\b", "grouped-split": r"\bgrouped split\b", "selection-bias": r"\bselection bias\b",
    "masked-loss": r"\bmasked loss\b", "seed-spread": r"\bseed spread\b", "dead-unit": r"\bdead units?\b",
    "k-nearest-neighbours": r"\bk-NN\b|\bk-nearest|\bk nearest",
}
"""Glossary entries (docs/glossary.md) and how the notebooks' text names them."""


def _prose(markdown: str) -> str:
    """Markdown without code spans and link targets: the words a reader reads."""
    return re.sub(r"\]\([^)]*\)", "]", re.sub(r"`[^`]*`", "", markdown))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_glossary_term_is_linked_where_the_notebook_first_uses_it(path):
    cells = [c for c in read(path).cells[1:]  # after the header; teachers' notes are not in the students' copies
             if c.cell_type == "markdown" and SOLUTION_TAG not in c.metadata.get("tags", [])]
    for anchor, pattern in TERMS.items():
        first = next((c for c in cells if re.search(pattern, _prose(c.source), flags=re.IGNORECASE)), None)
        if first is not None:
            assert f"](../docs/glossary.md#{anchor})" in first.source, (anchor, first.id)


def test_every_term_the_issue_names_is_linked_somewhere():
    linked = "\n".join(c.source for path in NOTEBOOKS for c in read(path).cells if c.cell_type == "markdown")
    for anchor in ("epoch", "dropout", "kernel", "padding", "max-pool", "rmsprop", "adamw", "tta", "papermill",
                   "rows-learned"):
        assert f"](../docs/glossary.md#{anchor})" in linked, anchor


# --- what a rendered report shows of the exercises -----------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solutions_are_tagged_to_be_left_out_of_rendered_reports(path):
    assert SOLUTION_TAG in HIDDEN_TAGS
    for cell in read(path).cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and solution_lines(cell.source):
            assert OUTPUT_ONLY_TAG in tags, cell.id  # its verdict is shown, its code is not
        if "For the instructor" in cell.source or "Expected results (instructor)" in cell.source:
            assert SOLUTION_TAG in tags, cell.id


def test_a_rendered_report_leaves_out_solution_cells_and_shows_answers_by_their_verdict_only(tmp_path):
    from fkd.report import _render

    note = nbformat.v4.new_markdown_cell("TEACHERS-NOTE: most students forget the swap.", id="note")
    note.metadata["tags"] = [SOLUTION_TAG]
    answer = nbformat.v4.new_code_cell('### BEGIN SOLUTION\nanswer = "SECRET-LETTER"\n### END SOLUTION\n'
                                       'exercises.check("03-why-swap", answer)', id="answer")
    answer.metadata["tags"] = [OUTPUT_ONLY_TAG]
    answer.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "**Right.** VERDICT-SHOWN",
                                                                    "text/plain": "VERDICT-SHOWN"})]
    plain = nbformat.v4.new_code_cell("print('VISIBLE-CODE')", id="plain")
    plain.outputs = [nbformat.v4.new_output("stream", text="VISIBLE-OUTPUT\n")]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lesson", id="title"), plain, answer, note])
    (html,) = _render(nb, tmp_path / "lesson", "Lesson", pdf=False)
    text = html.read_text()
    assert "VISIBLE-CODE" in text and "VISIBLE-OUTPUT" in text and "VERDICT-SHOWN" in text
    assert "SECRET-LETTER" not in text and "BEGIN SOLUTION" not in text and "TEACHERS-NOTE" not in text


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_run_by_hand_checks_its_parameters_before_anything_else(path):
    (setup,) = [c for c in code_cells(path) if "setup" in c.metadata.get("tags", [])]
    code = [line for line in setup.source.splitlines() if line.strip() and not line.startswith("%")]
    assert code[:2] == ["from fkd.parameters import check_parameters",
                        f'check_parameters("{path.stem}", globals())  # an impossible value stops here, with its '
                        "valid range"]
