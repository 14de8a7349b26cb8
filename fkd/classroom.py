"""Student and instructor copies of the notebooks, in the spirit of nbgrader's solution markers.

The notebooks in the repository are the instructor's: they run top to bottom, exercises solved, so
``fkd report`` executes them as they are. Two markings say what a student must not see:

* a region of a cell between ``### BEGIN SOLUTION`` and ``### END SOLUTION``. In the student's copy a
  code region becomes ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` at the marker's
  indentation (a function body then raises when called, which the checkers report as "not
  implemented yet"; an answer cell stops "Run all" until the student commits an answer), and a
  markdown region becomes ``YOUR ANSWER HERE``;
* a cell tagged ``solution``: reference code, notes for the teacher, expected results. It is left
  out of the student's copy.

:func:`write_classroom` (``fkd classroom --out DIR``) writes both copies with outputs cleared, and
refuses to write a student copy in which a line of a solution is still to be found.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

from fkd.errors import FkdError

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SOLUTION_TAG = "solution"
"""Cells with this tag are in the instructor's copy only."""
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = "YOUR ANSWER HERE"
REVEALING = 12
"""Solution lines at least this long (stripped) must not appear anywhere in a student's copy; shorter
ones (``return x``, ``else:``) say nothing on their own and turn up in any code."""
INSTRUCTOR_BANNER = (
    "> **Instructor's copy:** the exercises' solutions and the notes for teachers (cells tagged "
    f"`{SOLUTION_TAG}`) are in it. Students get the copy in `student/`, written by `fkd classroom`.")


class ClassroomError(FkdError, ValueError):
    """A notebook whose solution markers cannot be turned into a student's copy."""


@dataclass(frozen=True)
class Classroom:
    """The copies :func:`write_classroom` wrote, in the order of their sources."""

    student: list[Path]
    instructor: list[Path]


def _regions(lines: list[str], where: str) -> list[tuple[int, int]]:
    """(begin, end) line numbers of each solution region; unbalanced or nested markers are refused."""
    regions, begin = [], None
    for number, line in enumerate(lines):
        marker = line.strip()
        if marker == BEGIN:
            if begin is not None:
                raise ClassroomError(f"{where}: a second {BEGIN} on line {number + 1} before the {END} of line "
                                     f"{begin + 1}'s region")
            begin = number
        elif marker == END:
            if begin is None:
                raise ClassroomError(f"{where}: {END} on line {number + 1} without a {BEGIN} before it")
            regions.append((begin, number))
            begin = None
    if begin is not None:
        raise ClassroomError(f"{where}: the {BEGIN} on line {begin + 1} has no {END}")
    return regions


def solution_lines(source: str, where: str = "cell") -> list[str]:
    """The lines inside the solution regions of ``source``, markers left out."""
    lines = source.splitlines()
    return [line for begin, end in _regions(lines, where) for line in lines[begin + 1:end]]


def strip_solutions(source: str, cell_type: str, where: str = "cell") -> str:
    """``source`` with each solution region replaced by the student's stub, indented like its marker."""
    lines = source.splitlines()
    kept, start = [], 0
    for begin, end in _regions(lines, where):
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        stub = CODE_STUB if cell_type == "code" else (MARKDOWN_STUB,)
        kept += lines[start:begin] + [indent + line for line in stub]
        start = end + 1
    return "\n".join(kept + lines[start:])


def _cleared(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def _is_solution_cell(cell: nbformat.NotebookNode) -> bool:
    return SOLUTION_TAG in cell.metadata.get("tags", [])


def student_copy(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """``nb`` for students: solution cells left out, solution regions replaced by stubs, outputs cleared.

    Raises :class:`ClassroomError` if a line of a solution (of :data:`REVEALING` characters or more) is
    still somewhere in the copy -- pasted into a markdown cell, say.
    """
    student = _cleared(nb)
    solutions = []
    cells = []
    for index, cell in enumerate(student.cells):
        where = f"{name}, cell {index} ({cell.get('id', 'no id')})"
        solutions += [line.strip() for line in solution_lines(cell.source, where)]
        if _is_solution_cell(cell):
            continue
        cell.source = strip_solutions(cell.source, cell.cell_type, where)
        cells.append(cell)
    student.cells = cells
    for line in {line for line in solutions if len(line) >= REVEALING}:
        for index, cell in enumerate(cells):
            if line in cell.source:
                raise ClassroomError(f"{name}: the solution line {line!r} is also in cell {index} "
                                     f"({cell.get('id', 'no id')}) outside a solution region; the student's copy "
                                     "would show it")
    return student


def instructor_copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` as it is, outputs cleared, with a banner saying whose copy it is (after the title cell)."""
    instructor = _cleared(nb)
    banner = nbformat.v4.new_markdown_cell(INSTRUCTOR_BANNER, id="instructor-banner")
    banner.metadata["tags"] = [SOLUTION_TAG]
    instructor.cells.insert(1 if instructor.cells and instructor.cells[0].cell_type == "markdown" else 0, banner)
    return instructor


def write_classroom(notebooks: Sequence[str | Path], out: str | Path) -> Classroom:
    """Write ``out``/student/NAME.ipynb and ``out``/instructor/NAME.ipynb for each notebook.

    Every student copy is made (and checked) before any file is written, so a marker error in the
    last notebook leaves ``out`` as it was.
    """
    from fkd.atomic import write_all

    if not notebooks:
        raise ClassroomError("no notebooks to make a classroom of")
    out = Path(out)
    payloads, result = [], Classroom([], [])
    for path in map(Path, notebooks):
        nb = nbformat.read(path, as_version=4)
        for folder, made, paths in (("student", student_copy(nb, path.name), result.student),
                                    ("instructor", instructor_copy(nb), result.instructor)):
            nbformat.validate(made)
            paths.append(out / folder / path.name)
            payloads.append((paths[-1], nbformat.writes(made).encode("utf-8")))
    for folder in ("student", "instructor"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    write_all(payloads)
    return result
