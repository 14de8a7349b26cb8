"""fkd classroom: students' copies without solutions, instructor's copies unchanged, and the exercise cells' content."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from fkd.classroom import (
    BEGIN, END, INSTRUCTOR_BANNER, SOLUTION_TAG, ClassroomError, instructor_copy, solution_lines, student_copy,
    write_classroom,
)
from fkd.cli import main
from fkd.exercises import EXERCISES, NOT_IMPLEMENTED, Exercises, Implement
from fkd.keypoints import FLIP_PAIRS, IMAGE_SIZE, KEYPOINT_NAMES
from tests.helpers import REPO

FRAGMENTS = sorted((REPO / "classroom" / "exercises").glob("*.ipynb"))
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


# --- The exercises' cells (classroom/exercises), as phase two places them --------------------------


def _cells(path: Path) -> list[nbformat.NotebookNode]:
    return nbformat.read(path, as_version=4).cells


def test_there_is_one_file_of_exercise_cells_per_study_notebook_and_each_makes_a_clean_students_copy():
    assert [path.stem for path in FRAGMENTS] == STUDY
    for path in FRAGMENTS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        student = _sources(student_copy(nb, path.name))
        for cell in nb.cells:
            assert not [line for line in solution_lines(cell.source) if line.strip() and line.strip() in student]


def test_every_exercise_is_asked_in_its_own_notebooks_cells_and_nowhere_else():
    asked: dict[str, set[str]] = {}
    for path in FRAGMENTS:
        for cell in _cells(path):
            for key in re.findall(r'exercises\.(?:check|predict|reveal)\("([\w-]+)"', cell.source):
                asked.setdefault(key, set()).add(path.stem)
    assert set(asked) == set(EXERCISES)
    assert all(notebooks == {next(s for s in STUDY if s.startswith(key[:2]))} for key, notebooks in asked.items())


def test_every_cell_says_where_it_goes_and_every_exercise_has_a_note_for_the_instructor():
    places = re.compile(r"^(setup|exercises|exercises-end|(before|after): .+)$")
    for path in FRAGMENTS:
        cells = _cells(path)
        for cell in cells:
            assert places.match(cell.metadata["classroom"]["place"]), (path.name, cell.id)
        noted = {cell.metadata["classroom"]["exercise"] for cell in cells if SOLUTION_TAG in cell.metadata.get("tags", [])}
        assert noted == {key for key in EXERCISES if key.startswith(path.stem[:2])} | {"expected"}, path.name


def test_each_question_shows_the_choices_its_checker_judges():
    for path in FRAGMENTS:
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
    path = next(p for p in FRAGMENTS if p.stem.startswith(key[:2]))
    cells = [c for c in student_copy(nbformat.read(path, as_version=4)).cells
             if c.cell_type == "code" and c.metadata["classroom"]["exercise"] == key]
    namespace = {"np": np, "FLIP_PAIRS": FLIP_PAIRS, "IMAGE_SIZE": IMAGE_SIZE, "KEYPOINT_NAMES": KEYPOINT_NAMES,
                 "exercises": Exercises("standard", tmp_path)}
    definition, checker = cells
    exec(definition.source, namespace)
    assert eval(checker.source, namespace).status == NOT_IMPLEMENTED


def _slug(heading: str) -> str:
    """The anchor GitHub and JupyterLab give a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_glossary_link_of_the_exercises_has_its_entry():
    glossary = (REPO / "docs" / "glossary.md").read_text()
    anchors = {_slug(line[3:]) for line in glossary.splitlines() if line.startswith("## ")}
    for path in FRAGMENTS:
        for cell in _cells(path):
            for anchor in re.findall(r"glossary\.md#([\w-]+)", cell.source):
                assert anchor in anchors, (path.name, anchor)


def test_the_glossary_has_the_terms_the_notebooks_use():
    glossary = (REPO / "docs" / "glossary.md").read_text()
    anchors = {_slug(line[3:]) for line in glossary.splitlines() if line.startswith("## ")}
    assert {"epoch", "dropout", "kernel", "padding", "max-pool", "rmsprop", "adamw", "tta", "papermill",
            "rows-learned", "mean-face", "grouped-split", "leak", "selection-bias", "masked-loss"} <= anchors
    assert "sqrt(v) + eps" in glossary and "sqrt(v + eps)" in glossary


def test_the_instructor_guide_covers_every_exercise():
    guide = (REPO / "docs" / "instructor-guide.md").read_text()
    assert all(f"`{key}`" in guide for key in EXERCISES)
