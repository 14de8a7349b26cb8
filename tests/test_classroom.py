"""fkd classroom: students' copies without solutions, instructor's copies unchanged, and the exercise cells' content."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest

from fkd.classroom import (
    BEGIN, END, EXPECTED_RESULTS, GUIDE_END, GUIDE_START, INSTRUCTOR_BANNER, SOLUTION_TAG, ClassroomError,
    classroom_tables, expected_table, guide_block, instructor_copy, measurements, record_measurements, solution_lines,
    student_copy, update_guide, write_classroom,
)
from fkd.cli import main
from fkd.exercises import EXERCISES, NOT_IMPLEMENTED, Exercises, Implement
from fkd.keypoints import FLIP_PAIRS, IMAGE_SIZE, KEYPOINT_NAMES
from tests.helpers import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9]*.ipynb"))
STUDY = ["01_eda", "02_baselines", "03_augmentation", "04_tuning", "05_appendix", "06_summary"]

FUNCTION_CELL = f'''def masked_mse(y_true, y_pred):
    """Mean squared error over the labelled coordinates."""
    {BEGIN}
    labelled = ~np.isnan(y_true)
    return float(np.mean((y_pred[labelled] - y_true[labelled]) ** 2)) if labelled.any() else 0.0
    {END}'''
ANSWER_CELL = f'''{BEGIN}
answer = "secret-letter"
{END}
exercises.check("05-why-count", answer)'''
MARKDOWN_CELL = f"""Why does the divisor matter?

{BEGIN}
Because a missing coordinate would count as a perfect guess.
{END}"""


def _notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A lesson", id="title"), *cells]
    return nb


def _lesson() -> nbformat.NotebookNode:
    """A small instructor notebook: a function to write, an answer, a written answer, a teacher's note, outputs."""
    function = nbformat.v4.new_code_cell(FUNCTION_CELL, id="function")
    function.outputs = [nbformat.v4.new_output("stream", text="ran\n")]
    function.execution_count = 3
    note = nbformat.v4.new_markdown_cell("Instructors: most students forget the empty batch.", id="note")
    note.metadata["tags"] = [SOLUTION_TAG]
    return _notebook(function, nbformat.v4.new_code_cell('exercises.check("05-masked-mse", masked_mse)', id="check"),
                     nbformat.v4.new_code_cell(ANSWER_CELL, id="answer"),
                     nbformat.v4.new_markdown_cell(MARKDOWN_CELL, id="written"), note)


def _sources(nb: nbformat.NotebookNode) -> str:
    return "\n".join(cell.source for cell in nb.cells)


# --- The student's copy ---------------------------------------------------------------------------


def test_the_students_copy_holds_no_solution_text_no_markers_and_no_solution_cells():
    lesson = _lesson()
    student = student_copy(lesson)
    text = _sources(student)
    for cell in lesson.cells:
        for line in solution_lines(cell.source):
            assert line.strip() not in text
    assert BEGIN not in text and END not in text and "most students forget" not in text
    assert all(SOLUTION_TAG not in cell.metadata.get("tags", []) for cell in student.cells)


def test_a_solution_region_becomes_a_stub_at_its_markers_indentation():
    cells = {cell.id: cell for cell in student_copy(_lesson()).cells}
    assert cells["function"].source.splitlines()[2:] == ["    # YOUR CODE HERE", "    raise NotImplementedError()"]
    assert cells["answer"].source.splitlines() == ["# YOUR CODE HERE", "raise NotImplementedError()",
                                                   'exercises.check("05-why-count", answer)']
    assert cells["written"].source.endswith("\n\nYOUR ANSWER HERE")
    assert cells["function"].source.startswith('def masked_mse(y_true, y_pred):\n    """Mean squared error')


def test_both_copies_are_written_without_outputs():
    for copy in (student_copy(_lesson()), instructor_copy(_lesson())):
        for cell in copy.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None


def test_a_students_checker_run_against_the_stub_says_not_implemented_instead_of_crashing(tmp_path):
    cells = {cell.id: cell for cell in student_copy(_lesson()).cells}
    namespace = {"np": np, "exercises": Exercises("standard", tmp_path)}
    exec(cells["function"].source, namespace)
    exec(cells["check"].source.replace("exercises.check", "feedback = exercises.check"), namespace)
    assert namespace["feedback"].status == NOT_IMPLEMENTED
    with pytest.raises(NotImplementedError):  # an unanswered answer cell stops "Run all" until it is answered
        exec(cells["answer"].source, namespace)


def test_the_students_copy_does_not_change_the_instructors_notebook():
    lesson = _lesson()
    before = nbformat.writes(lesson)
    student_copy(lesson)
    assert nbformat.writes(lesson) == before


# --- The instructor's copy ------------------------------------------------------------------------


def test_the_instructors_copy_keeps_every_cell_and_solution_as_it_was_and_says_whose_it_is():
    lesson = _lesson()
    instructor = instructor_copy(lesson)
    assert [cell.id for cell in instructor.cells] == ["title", "instructor-banner", *[c.id for c in lesson.cells[1:]]]
    original = {cell.id: cell.source for cell in lesson.cells}
    assert all(cell.source == original[cell.id] for cell in instructor.cells if cell.id in original)
    assert instructor.cells[1].source == INSTRUCTOR_BANNER and SOLUTION_TAG in instructor.cells[1].metadata["tags"]


# --- Refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize("source, problem", [
    (f"{BEGIN}\nx = 1", "has no"),
    (f"x = 1\n{END}", "without a"),
    (f"{BEGIN}\n{BEGIN}\nx = 1\n{END}", "a second"),
])
def test_unbalanced_markers_are_refused_naming_the_notebook_and_cell(source, problem):
    nb = _notebook(nbformat.v4.new_code_cell(source, id="broken"))
    with pytest.raises(ClassroomError, match=rf"lesson.ipynb, cell 1 \(broken\).*{problem}"):
        student_copy(nb, "lesson.ipynb")


def test_a_solution_line_repeated_outside_its_region_is_refused():
    leaky = nbformat.v4.new_markdown_cell("Hint: `labelled = ~np.isnan(y_true)`", id="hint")
    with pytest.raises(ClassroomError, match="labelled = ~np.isnan"):
        student_copy(_notebook(*_lesson().cells[1:], leaky), "lesson.ipynb")


def test_short_solution_lines_that_say_nothing_alone_may_appear_elsewhere():
    cell = nbformat.v4.new_code_cell(f"def f(x):\n    {BEGIN}\n    return x\n    {END}", id="f")
    other = nbformat.v4.new_code_cell("def g(x):\n    return x", id="g")
    assert "return x" in _sources(student_copy(_notebook(cell, other)))


# --- Writing the classroom ------------------------------------------------------------------------


def _write(folder: Path, **notebooks: nbformat.NotebookNode) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, nb in notebooks.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
        paths.append(folder / f"{name}.ipynb")
    return paths


def test_write_classroom_writes_a_student_and_an_instructor_copy_of_each_notebook(tmp_path):
    sources = _write(tmp_path / "source", **{"01_lesson": _lesson(), "02_lesson": _lesson()})
    made = write_classroom(sources, tmp_path / "out")
    assert [p.name for p in made.student] == [p.name for p in made.instructor] == ["01_lesson.ipynb", "02_lesson.ipynb"]
    for path in made.student:
        assert "secret-letter" not in path.read_text() and path.parent.name == "student"
    for path in made.instructor:
        assert "secret-letter" in path.read_text() and path.parent.name == "instructor"
        nbformat.validate(nbformat.read(path, as_version=4))


def test_a_broken_notebook_leaves_the_classroom_folder_unwritten(tmp_path):
    broken = _notebook(nbformat.v4.new_code_cell(f"{BEGIN}\nx = 1", id="broken"))
    sources = _write(tmp_path / "source", **{"01_lesson": _lesson(), "02_broken": broken})
    with pytest.raises(ClassroomError):
        write_classroom(sources, tmp_path / "out")
    assert not list((tmp_path / "out").rglob("*.ipynb"))


def test_fkd_classroom_writes_the_copies_of_a_folder_of_notebooks(tmp_path, capsys):
    _write(tmp_path / "source", **{"01_lesson": _lesson()})
    assert main(["classroom", "--out", str(tmp_path / "out"), "--source", str(tmp_path / "source")]) == 0
    assert (tmp_path / "out" / "student" / "01_lesson.ipynb").is_file()
    assert (tmp_path / "out" / "instructor" / "01_lesson.ipynb").is_file()
    assert "1 notebooks" in capsys.readouterr().out


def test_fkd_classroom_refuses_a_folder_without_notebooks_in_one_line(tmp_path, capsys):
    assert main(["classroom", "--out", str(tmp_path / "out"), "--source", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("fkd: error:")


# --- The exercises' cells, in the notebooks (their one source) ------------------------------------


def _cells(path: Path) -> list[nbformat.NotebookNode]:
    """The exercise cells of a notebook: those carrying ``metadata.classroom``."""
    return [cell for cell in nbformat.read(path, as_version=4).cells if "classroom" in cell.metadata]


def test_each_study_notebook_makes_a_students_copy_without_solutions_markers_or_teachers_notes():
    assert [path.stem for path in NOTEBOOKS] == STUDY
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        student = student_copy(nb, path.name)
        text = _sources(student)
        for cell in nb.cells:
            assert not [line for line in solution_lines(cell.source) if line.strip() and line.strip() in text]
        assert BEGIN not in text and END not in text and "For the instructor" not in text
        assert not [cell for cell in student.cells if SOLUTION_TAG in cell.metadata.get("tags", [])]
        assert "YOUR CODE HERE" in text


def test_every_exercise_is_asked_in_its_own_notebook_and_in_no_other_file():
    asked: dict[str, set[str]] = {}
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            for key in re.findall(r'exercises\.(?:check|predict|reveal)\("([\w-]+)"', cell.source):
                asked.setdefault(key, set()).add(path.stem)
    assert set(asked) == set(EXERCISES)
    assert all(notebooks == {next(s for s in STUDY if s.startswith(key[:2]))} for key, notebooks in asked.items())
    elsewhere = [path for path in REPO.rglob("*.ipynb")
                 if not set(path.relative_to(REPO).parts[:1]) & {"notebooks", "reports", "runs", "build", "dist"}
                 and not any(part.startswith(".") for part in path.relative_to(REPO).parts)
                 and "exercises." in path.read_text()]
    assert elsewhere == [], "an exercise's cells live in one place: the study's notebooks"


def _place_ok(cells: list[nbformat.NotebookNode], index: int) -> bool:
    """Whether a cell stands where its ``place`` says: before or after the cell it names, or in the exercises."""
    place = cells[index].metadata["classroom"]["place"]
    ids = [cell.id for cell in cells]
    exercises = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises"))
    further = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Going further" in c.source)
    if place.startswith("before: "):
        return index < ids.index(place[len("before: "):]) < exercises
    if place.startswith("after: "):
        return ids.index(place[len("after: "):]) < index < exercises
    if place == "exercises-end":
        return all(cells[i].metadata.get("classroom", {}).get("place") == "exercises-end" for i in range(index, further))
    return place == "exercises" and exercises < index < further


def test_every_exercise_cell_stands_where_its_place_says_and_every_exercise_has_a_note_for_the_instructor():
    places = re.compile(r"^(exercises|exercises-end|(before|after): [\w-]+)$")
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        for index, cell in enumerate(cells):
            if "classroom" in cell.metadata:
                assert places.match(cell.metadata["classroom"]["place"]), (path.name, cell.id)
                assert _place_ok(cells, index), (path.name, cell.id, cell.metadata["classroom"]["place"])
        noted = {cell.metadata["classroom"]["exercise"] for cell in _cells(path)
                 if SOLUTION_TAG in cell.metadata.get("tags", [])}
        assert noted == {key for key in EXERCISES if key.startswith(path.stem[:2])} | {"expected"}, path.name


def test_a_prediction_is_asked_before_its_experiment_and_revealed_after_it():
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        for key in [key for key in EXERCISES if key.startswith(path.stem[:2]) and EXERCISES[key].kind == "predict"]:
            (asked,) = [i for i, c in enumerate(cells) if f'exercises.predict("{key}"' in c.source]
            (revealed,) = [i for i, c in enumerate(cells) if f'exercises.reveal("{key}"' in c.source]
            anchor = cells[asked].metadata["classroom"]["place"].split(": ", 1)[1]
            assert asked < [c.id for c in cells].index(anchor) < revealed, key


def test_each_question_shows_the_choices_its_checker_judges():
    for path in NOTEBOOKS:
        for cell in _cells(path):
            key = cell.metadata["classroom"]["exercise"]
            exercise = EXERCISES.get(key)
            if cell.cell_type != "markdown" or exercise is None or isinstance(exercise, Implement):
                continue
            if SOLUTION_TAG in cell.metadata.get("tags", []):
                continue
            assert exercise.question in cell.source
            for choice in exercise.choices.values():
                assert getattr(choice, "text", choice) in cell.source, (key, choice)


@pytest.mark.parametrize("key", [key for key, exercise in EXERCISES.items() if isinstance(exercise, Implement)])
def test_each_implement_it_stub_runs_and_its_check_says_not_implemented_yet(key, tmp_path):
    path = next(p for p in NOTEBOOKS if p.stem.startswith(key[:2]))
    cells = [c for c in student_copy(nbformat.read(path, as_version=4)).cells
             if c.cell_type == "code" and c.metadata.get("classroom", {}).get("exercise") == key]
    namespace = {"np": np, "FLIP_PAIRS": FLIP_PAIRS, "IMAGE_SIZE": IMAGE_SIZE, "KEYPOINT_NAMES": KEYPOINT_NAMES,
                 "exercises": Exercises("standard", tmp_path)}
    definition, checker = cells
    exec(definition.source, namespace)
    assert eval(checker.source, namespace).status == NOT_IMPLEMENTED


def test_the_exercise_cells_once_in_classroom_exercises_are_gone():
    assert not (REPO / "classroom" / "exercises").exists()


def _slug(heading: str) -> str:
    """The anchor GitHub and JupyterLab give a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_glossary_link_of_the_notebooks_has_its_entry():
    glossary = (REPO / "docs" / "glossary.md").read_text()
    anchors = {_slug(line[3:]) for line in glossary.splitlines() if line.startswith("## ")}
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            for target, anchor in re.findall(r"\]\(([^)#]*glossary\.md)#([\w-]+)\)", cell.source):
                assert target == "../docs/glossary.md" and anchor in anchors, (path.name, anchor)


def test_the_glossary_has_the_terms_the_notebooks_use():
    glossary = (REPO / "docs" / "glossary.md").read_text()
    anchors = {_slug(line[3:]) for line in glossary.splitlines() if line.startswith("## ")}
    assert {"epoch", "dropout", "kernel", "padding", "max-pool", "rmsprop", "adamw", "tta", "papermill",
            "rows-learned", "mean-face", "grouped-split", "leak", "selection-bias", "masked-loss"} <= anchors
    assert "sqrt(v) + eps" in glossary and "sqrt(v + eps)" in glossary


def test_the_instructor_guide_covers_every_exercise():
    guide = (REPO / "docs" / "instructor-guide.md").read_text()
    assert all(f"`{key}`" in guide for key in EXERCISES)


# --- Expected results and times, generated from committed results files -----------------------------


def _benchmark(path: Path) -> Path:
    path.write_text(json.dumps({
        "data": {"source": "faces15/training.zip:training.csv", "demo": False, "rows": 3000},
        "hardware": {"cpu_model": "Test CPU 9000", "logical_cores": 2},
        "report": {"standard": {"measured_at": "2026-01-02T03:04:05+0000", "seconds": 3600.0,
                                "notebooks": {stem: 60.0 * (i + 1) for i, stem in enumerate(STUDY)}}}}))
    return path


def _published(path: Path) -> Path:
    path.write_text(json.dumps({"data": "fkd demo faces", "profile": "standard", "cpu_model": "Demo CPU 1",
                                "cores": 4, "generated_at": "2026-02-03T10:00:00+01:00", "seconds": 1200}))
    return path


def _recorded(path: Path) -> Path:
    path.write_text(json.dumps({"measurements": [{
        "data": "faces15", "demo": False, "profile": "standard", "cpu_model": "Lab CPU 7", "cores": 8,
        "measured_at": "2026-03-04T05:06:07+00:00", "notebooks": {},
        "outcomes": {"03-mirror-back": {"summary": "answers mirrored back: 2.00 px with the labels swapped, 15.00 px "
                                                   "without", "borne_out": ["c"], "graded": True},
                     "05-best-policy": {"summary": "masked 2.500 px, dropna 2.520 px", "borne_out": ["dropna", "masked"],
                                        "graded": True}}}]}))
    return path


def test_without_results_files_every_figure_says_not_measured_yet(tmp_path):
    absent = measurements(tmp_path / "no-benchmark.json", tmp_path / "no-published.json", tmp_path / "no-record.json")
    tables = classroom_tables(absent)
    assert absent == [] and "not measured yet" in tables
    assert not re.search(r"\| \d", tables)  # not one number in any cell
    for key in [key for key, exercise in EXERCISES.items() if exercise.kind == "predict"]:
        assert re.search(rf"`{key}`( \| not measured yet)+ \|", tables), key


def test_the_tables_are_generated_from_the_results_files_naming_data_profile_cpu_and_date(tmp_path):
    found = measurements(_benchmark(tmp_path / "benchmark.json"), _published(tmp_path / "published.json"),
                         _recorded(tmp_path / "classroom.json"))
    tables = classroom_tables(found)
    assert "| `01_eda` | 1.0 |" in tables and "| `06_summary` | 6.0 |" in tables  # minutes from seconds
    assert "| the whole report, rendering included | 60.0 | not measured yet | 20.0 |" in tables
    assert "(c): answers mirrored back: 2.00 px" in tables and "(`dropna` and `masked`)" not in tables
    assert "`dropna` and `masked`: masked 2.500 px" in tables
    assert "faces15, standard: times from `fkd/measured/benchmark.json`, 3,000 faces, Test CPU 9000, 2 cores, " \
           "2026-01-02; " \
           "outcomes from `fkd/measured/classroom.json`, Lab CPU 7, 8 cores, 2026-03-04." in tables
    assert "fkd demo faces, standard: times from `reports/published.json`, Demo CPU 1, 4 cores, 2026-02-03." in tables
    assert "fkd demo faces, smoke: not measured yet." in tables


def test_an_outcome_measured_where_it_is_not_graded_says_so(tmp_path):
    recorded = tmp_path / "classroom.json"
    recorded.write_text(json.dumps({"measurements": [{
        "data": "fkd demo faces", "demo": True, "profile": "smoke", "cpu_model": "c", "cores": 1,
        "measured_at": "2026-01-01T00:00:00", "outcomes": {"01-leak": {
            "summary": "k-NN scored 7.00 px without", "borne_out": ["a"], "graded": False}}}]}))
    tables = classroom_tables(measurements(None, None, recorded))
    assert "not graded here; measured: k-NN scored 7.00 px without" in tables and "(a)" not in tables


def test_each_notebooks_expected_results_are_its_minutes_and_its_predictions(tmp_path):
    found = measurements(_benchmark(tmp_path / "benchmark.json"), None, _recorded(tmp_path / "classroom.json"))
    table = expected_table("03_augmentation", found)
    assert [row[0] for row in table.rows] == ["minutes", "03-mirror-back"]
    assert table.rows[0][1] == "3.0" and table.rows[1][1].startswith("(c): answers mirrored back")
    assert "Test CPU 9000" in table.note and "`" not in table.note
    assert [row[0] for row in expected_table("06_summary", found).rows] == ["minutes"]
    assert isinstance(Exercises("standard", tmp_path).expected("01_eda").rows, list)


def test_a_runs_folders_outcomes_and_times_are_recorded_per_data_and_profile(tmp_path):
    runs = tmp_path / "runs"
    study = SimpleNamespace(profile="standard", runs_dir=runs, files=SimpleNamespace(demo=True),
                            dataset=SimpleNamespace(fingerprint="f00d"))
    exercises = Exercises.of(study)
    exercises.predict("04-seed-spread", "b")
    exercises.reveal("04-seed-spread", spread=0.08)
    from fkd.report import timings_path

    timings_path(runs, "standard", "f00d").parent.mkdir(parents=True)
    timings_path(runs, "standard", "f00d").write_text(json.dumps({"notebooks": {"04_tuning": 90.0}}))
    into = tmp_path / "classroom.json"
    into.write_text(json.dumps({"measurements": [
        {"data": "fkd demo faces", "demo": True, "profile": "standard", "outcomes": {"old": {}}},
        {"data": "faces15", "demo": False, "profile": "standard", "cpu_model": "c", "measured_at": "2026-01-01",
         "outcomes": {}}]}))
    (made,) = record_measurements(runs, into)
    kept = json.loads(into.read_text())["measurements"]
    assert [(m["data"], m["profile"]) for m in kept] == [("faces15", "standard"), ("fkd demo faces", "standard")]
    assert kept[1] == made and made["notebooks"] == {"04_tuning": 90.0} and made["cpu_model"]
    assert made["outcomes"]["04-seed-spread"] == {"summary": made["outcomes"]["04-seed-spread"]["summary"],
                                                 "borne_out": ["b"], "graded": False}  # demo faces: not graded
    assert str(tmp_path) not in into.read_text()
    table = expected_table("04_tuning", measurements(None, None, into))
    assert table.rows[0][3] == "1.5" and "not graded here" in table.rows[1][3]


def test_recording_a_runs_folder_without_outcomes_is_refused(tmp_path):
    with pytest.raises(ClassroomError, match="no outcomes recorded"):
        record_measurements(tmp_path, tmp_path / "classroom.json")


def test_the_guide_shows_the_tables_generated_from_the_committed_results():
    guide = (REPO / "docs" / "instructor-guide.md").read_text()
    start, end = guide.index(GUIDE_START), guide.index(GUIDE_END) + len(GUIDE_END)
    assert guide[start:end] == guide_block(), "run `python tools/sync_classroom.py`"


def test_update_guide_rewrites_only_the_generated_part(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text(f"# Guide\n\nTyped.\n\n{GUIDE_START}\nSTALE-TABLE\n{GUIDE_END}\n\nAfter.\n")
    assert update_guide(guide, []) and not update_guide(guide, [])
    text = guide.read_text()
    assert text.startswith("# Guide\n\nTyped.\n\n") and text.endswith("\n\nAfter.\n") and "STALE-TABLE" not in text


def test_fkd_classroom_writes_the_expected_results_beside_the_instructors_copies(tmp_path):
    sources = _write(tmp_path / "source", **{"01_lesson": _lesson()})
    write_classroom(sources, tmp_path / "out")
    written = (tmp_path / "out" / "instructor" / EXPECTED_RESULTS).read_text()
    assert written.startswith("# Expected results and times") and classroom_tables() in written
    assert not (tmp_path / "out" / "student" / EXPECTED_RESULTS).exists()
    glossary = tmp_path / "out" / "student" / ".." / "docs" / "glossary.md"  # where the notebooks' links lead
    assert glossary.read_text() == (REPO / "docs" / "glossary.md").read_text()
