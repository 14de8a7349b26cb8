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
refuses to write a student copy in which a line of a solution is still to be found. Beside the
instructor's copies it writes ``expected-results.md``: how long each notebook took and what each
prediction measured, per data and profile, generated (never typed) from the results committed with
fkd -- ``fkd/measured/benchmark.json`` (the benchmark, on faces15), ``reports/published.json`` (the
published report, on the demo faces) and ``fkd/measured/classroom.json`` (outcomes the notebooks
measured, recorded from a runs folder by :func:`record_measurements`). The same tables fill
``docs/instructor-guide.md`` between its markers (:func:`update_guide`, ``python tools/sync_classroom.py``)
and the instructor's "Expected results" cell of each notebook (``exercises.expected(...)``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    payloads.append((out / "instructor" / EXPECTED_RESULTS,
                     f"# Expected results and times\n\n{classroom_tables()}\n".encode("utf-8")))
    folders = ["student", "instructor"]
    if GLOSSARY.is_file():  # the notebooks link ../docs/glossary.md: from student/ that is out/docs
        payloads.append((out / "docs" / GLOSSARY.name, GLOSSARY.read_bytes()))
        folders.append("docs")
    for folder in folders:
        (out / folder).mkdir(parents=True, exist_ok=True)
    write_all(payloads)
    return result


# --- Expected results and times, from committed results ----------------------------------------------

EXPECTED_RESULTS = "expected-results.md"
"""Written beside the instructor's copies: the tables of :func:`classroom_tables`."""
PACKAGE = Path(__file__).resolve().parent
BENCHMARK = PACKAGE / "measured" / "benchmark.json"
RECORDED = PACKAGE / "measured" / "classroom.json"
PUBLISHED = PACKAGE.parent / "reports" / "published.json"
"""The published report's record, in a source checkout (an installed fkd has none)."""
GLOSSARY = PACKAGE.parent / "docs" / "glossary.md"
"""The glossary the notebooks link to, in a source checkout; copied beside the classroom's copies."""
NOT_MEASURED = "not measured yet"
GUIDE_START, GUIDE_END = "<!-- classroom:start -->", "<!-- classroom:end -->"
PROFILES = ("standard", "smoke", "full")
"""The order of the tables' columns within one data set."""


@dataclass(frozen=True)
class Measurement:
    """What one committed results file measured on one data set under one profile."""

    data: str
    """Public name: "fkd demo faces", faces15, kaggle."""
    demo: bool
    profile: str
    source: str
    """The committed file it comes from, as the tables name it."""
    cpu_model: str
    cores: int | None
    date: str
    notebooks: dict[str, float] = field(default_factory=dict)
    """Seconds per notebook."""
    total: float | None = None
    """Seconds for the whole report, rendering included, when the file records it."""
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per prediction: summary, borne_out (the choices the outcome bore out), graded."""
    faces: int | None = None
    """How many training faces the data held (demo sets come in several sizes)."""

    @property
    def slot(self) -> tuple[str, str]:
        return self.data, self.profile

    def describe(self, code: bool = True) -> str:
        faces = f", {self.faces:,} faces" if self.faces else ""
        cores = f", {self.cores} cores" if self.cores else ""
        return f"{f'`{self.source}`' if code else self.source}{faces}, {self.cpu_model}{cores}, {self.date}"


def _read(path: Path | None) -> dict[str, Any] | None:
    return json.loads(Path(path).read_text()) if path is not None and Path(path).is_file() else None


def measurements(benchmark: Path | None = BENCHMARK, published: Path | None = PUBLISHED,
                 recorded: Path | None = RECORDED) -> list[Measurement]:
    """Every measurement the committed results files hold; a file that is absent adds none.

    ``benchmark``: the benchmark's ``report`` part (minutes per notebook per profile, on its data);
    ``published``: the published report's record (demo faces; its total time, and its times per notebook
    when it records them); ``recorded``: outcomes and times the notebooks measured (:func:`record_measurements`).
    """
    found = []
    results = _read(benchmark)
    if results:
        data = Path(results["data"]["source"].split(":")[0]).parent.name or results["data"]["source"]
        machine = results["hardware"]
        for profile, report in (results.get("report") or {}).items():
            found.append(Measurement(data, bool(results["data"].get("demo")), profile, "fkd/measured/benchmark.json",
                                     machine["cpu_model"], machine.get("logical_cores"), report["measured_at"][:10],
                                     dict(report["notebooks"]), report.get("seconds"), faces=results["data"].get("rows")))
    record = _read(published)
    if record:
        found.append(Measurement(record.get("data", "fkd demo faces"), True, record["profile"], "reports/published.json",
                                 record["cpu_model"], record.get("cores"), record["generated_at"][:10],
                                 dict(record.get("notebook_seconds") or {}), record.get("seconds")))
    for entry in (_read(recorded) or {}).get("measurements", []):
        found.append(Measurement(entry["data"], entry["demo"], entry["profile"], "fkd/measured/classroom.json",
                                 entry["cpu_model"], entry.get("cores"), entry["measured_at"][:10],
                                 dict(entry.get("notebooks") or {}), None, dict(entry.get("outcomes") or {}),
                                 faces=entry.get("faces")))
    return found


def _slots(found: list[Measurement]) -> list[tuple[str, str]]:
    """The tables' columns: real faces and the demo faces under standard and smoke, always, then any other
    profile measured. Real faces are named after the data measured (faces15, kaggle)."""
    from fkd.exercises import DEMO_DATA

    real = [m.data for m in found if not m.demo] or ["faces15 or Kaggle's"]
    wanted = [(real[0], "standard"), (real[0], "smoke"), (DEMO_DATA, "standard"), (DEMO_DATA, "smoke")]
    extra = sorted({m.slot for m in found} - set(wanted),
                   key=lambda slot: (slot[0] == DEMO_DATA, slot[0], PROFILES.index(slot[1])
                                     if slot[1] in PROFILES else len(PROFILES)))
    return wanted + extra


def _first(found: list[Measurement], slot: tuple[str, str], has: str) -> Measurement | None:
    return next((m for m in found if m.slot == slot and getattr(m, has)), None)


def _minutes(seconds: float | None) -> str:
    return NOT_MEASURED if seconds is None else f"{seconds / 60:.1f}"


def _notebook_minutes(found: list[Measurement], slot: tuple[str, str], notebook: str) -> str:
    timed = next((m for m in found if m.slot == slot and notebook in m.notebooks), None)
    return _minutes(timed.notebooks[notebook] if timed else None)


def _total_minutes(found: list[Measurement], slot: tuple[str, str], notebooks: list[str]) -> str:
    """The whole report's minutes, rendering included when the file records it (else the notebooks' sum)."""
    timed = [m for m in found if m.slot == slot]
    total = next((m.total for m in timed if m.total is not None), None)
    if total is not None:
        return _minutes(total)
    summed = next((m for m in timed if all(n in m.notebooks for n in notebooks)), None)
    return f"{_minutes(sum(summed.notebooks[n] for n in notebooks))} (notebooks only)" if summed else NOT_MEASURED


def _outcome(found: list[Measurement], slot: tuple[str, str], key: str) -> str:
    measured = next((m for m in found if m.slot == slot and key in m.outcomes), None)
    if measured is None:
        return NOT_MEASURED
    outcome = measured.outcomes[key]
    if not outcome.get("graded", True):
        return f"not graded here; measured: {outcome['summary']}"
    return " and ".join(f"({c})" if len(c) == 1 else f"`{c}`" for c in outcome["borne_out"]) + f": {outcome['summary']}"


def _sources(found: list[Measurement], slots: list[tuple[str, str]], code: bool = True) -> list[str]:
    """One line per column: which committed file each of its figures comes from, with the CPU and the date."""
    lines = []
    for slot in slots:
        said = []
        for m in found:
            what = [part for part, has in (("times", m.notebooks or m.total is not None), ("outcomes", m.outcomes))
                    if has]
            if m.slot == slot and what:
                said.append(f"{' and '.join(what)} from {m.describe(code)}")
        lines.append(f"{slot[0]}, {slot[1]}: {'; '.join(said) or NOT_MEASURED}.")
    return lines


def _predictions(notebook: str | None = None) -> list[str]:
    from fkd.exercises import EXERCISES, Prediction

    return [key for key, exercise in EXERCISES.items()
            if isinstance(exercise, Prediction) and (notebook is None or key[:2] == notebook[:2])]


def _study() -> list[str]:
    from fkd.report import study_notebooks

    return [path.stem for path in study_notebooks()]


def _markdown(headers: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |",
            *("| " + " | ".join(row) + " |" for row in rows)]


def classroom_tables(found: list[Measurement] | None = None) -> str:
    """Minutes per notebook and the predictions' measured outcomes, per data and profile, as Markdown.

    Generated from :func:`measurements`; a column nothing was measured for says "not measured yet".
    """
    found = measurements() if found is None else found
    slots, notebooks = _slots(found), _study()
    labels = [f"{data}, `{profile}`" for data, profile in slots]
    times = [[f"`{stem}`", *(_notebook_minutes(found, slot, stem) for slot in slots)] for stem in notebooks]
    times.append(["the whole report, rendering included", *(_total_minutes(found, slot, notebooks) for slot in slots)])
    outcomes = [[f"`{key}`", *(_outcome(found, slot, key) for slot in slots)] for key in _predictions()]
    return "\n".join([
        "Generated from the results committed with fkd (`python tools/sync_classroom.py`); never typed.", "",
        "**Minutes per notebook**, as `fkd report` recorded them (the benchmark and the published report train "
        "every model afresh; a runs folder keeps the times of its last report):", "",
        *_markdown(["Notebook", *labels], times), "",
        "**What each prediction measured** (the choices it bore out, and the measurement; no prediction is graded "
        "on demo faces, and none about trained runs under `smoke`):", "",
        *_markdown(["Prediction", *labels], outcomes), "",
        "Measured on:", "", *(f"* {line}" for line in _sources(found, slots))])


def expected_table(notebook: str, found: list[Measurement] | None = None) -> Any:
    """The instructor's "Expected results" of one notebook: its minutes and its predictions' outcomes, per data
    and profile, from :func:`measurements` (a :class:`fkd.display.Table`)."""
    from fkd.display import Table

    found = measurements() if found is None else found
    slots = _slots(found)
    rows = [["minutes", *(_notebook_minutes(found, slot, notebook) for slot in slots)],
            *([key, *(_outcome(found, slot, key) for slot in slots)] for key in _predictions(notebook))]
    note = " ".join(_sources(found, slots, code=False))
    return Table(["", *(f"{data}, {profile}" for data, profile in slots)], rows,
                 note=f"Minutes: as fkd report recorded them. Measured on: {note}")


def guide_block(found: list[Measurement] | None = None) -> str:
    """The generated part of ``docs/instructor-guide.md``, markers included."""
    return f"{GUIDE_START}\n{classroom_tables(found)}\n{GUIDE_END}"


def update_guide(path: Path, found: list[Measurement] | None = None) -> bool:
    """Rewrite the generated part of the guide at ``path``; True when it changed."""
    from fkd.atomic import write_text

    text = Path(path).read_text()
    start, end = text.index(GUIDE_START), text.index(GUIDE_END) + len(GUIDE_END)
    updated = text[:start] + guide_block(found) + text[end:]
    if updated != text:
        write_text(path, updated)
    return updated != text


def record_measurements(runs_dir: Path, into: Path = RECORDED) -> list[dict[str, Any]]:
    """Merge what the notebooks measured in ``runs_dir`` into ``into`` (default: fkd's committed
    ``measured/classroom.json``): per data and profile, every prediction's outcome (``outcomes.json``, written
    by :meth:`fkd.exercises.Exercises.reveal`) and the report's seconds per notebook (``reports/``, written by
    ``fkd report``), with the CPU and the date. An entry for the same data and profile is replaced.
    Returns the entries recorded from ``runs_dir``.
    """
    from fkd.atomic import write_json
    from fkd.exercises import OUTCOMES
    from fkd.report import timings_path

    runs_dir = Path(runs_dir)
    groups = _read(runs_dir / OUTCOMES)
    if not groups:
        raise ClassroomError(f"{runs_dir / OUTCOMES}: no outcomes recorded; run the notebooks (or fkd report) with "
                             f"runs_dir={runs_dir} first")
    made = []
    for group in groups.values():
        outcomes = group["outcomes"]
        latest = max(outcomes.values(), key=lambda outcome: outcome["measured_at"])
        timings = _read(timings_path(runs_dir, group["profile"], group["data_fingerprint"]))
        made.append({"data": group["data"], "demo": group["demo"], "profile": group["profile"],
                     "data_fingerprint": group["data_fingerprint"], "faces": group.get("faces"),
                     "cpu_model": latest["cpu_model"],
                     "cores": latest["cores"], "measured_at": latest["measured_at"],
                     "fkd_version": latest["fkd_version"], "notebooks": (timings or {}).get("notebooks", {}),
                     "outcomes": {key: {"summary": o["summary"], "borne_out": o["borne_out"], "graded": o["graded"]}
                                  for key, o in sorted(outcomes.items())}})
    kept = [entry for entry in (_read(into) or {}).get("measurements", [])
            if (entry["data"], entry["profile"]) not in {(m["data"], m["profile"]) for m in made}]
    write_json(into, {"measurements": sorted(kept + made, key=lambda e: (e["demo"], e["data"], e["profile"]))})
    return made
