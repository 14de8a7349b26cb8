"""The report: execute the notebooks with papermill, render them with nbconvert.

``run_report`` is what ``fkd report`` calls. In order, it

1. checks the profile and the notebook parameters (papermill's own inspection of
   each notebook's ``parameters`` cell) before anything runs, so a typo costs a
   second, not an hour of training;
2. takes a lock in the output folder, so two reports cannot write into it at once;
3. resolves the data (an explicit folder, ``./data``, or generated demo data);
4. executes every notebook (kernel ``python3``, working directory = the
   notebook's folder) into a temporary folder beside the output folder, all of
   them sharing one runs folder -- so the summary's table holds every run, and a
   second report with the same parameters reuses the trained models;
5. renders each executed notebook, and one combined report of all of them, to
   HTML and (when xelatex and pandoc are installed) PDF;
6. moves the finished files into the output folder one ``os.replace`` at a time.

Nothing in the output folder changes until every notebook has run and rendered:
a failure leaves the previous report as it was, plus the partly executed notebook
in ``<out>/failed/`` for debugging.

The runs folder defaults to ``runs`` beside the output folder (``reports`` ->
``runs``), the same ``./runs`` that ``fkd train`` uses; pass ``runs_dir`` in
``params`` to choose another.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fkd.atomic import check_folder
from fkd.display import DEMO_BANNER_TEXT
from fkd.errors import FkdError
from fkd.lock import report_lock
from fkd.parameters import ParameterError, notebook_parameters, validate_parameters
from fkd.profiles import DEFAULT_PROFILE

FAILED_DIR = "failed"
COMBINED_NAME = "report"
DEFAULT_SEED = 42
KERNEL = "python3"
PDF_TOOLS = ("xelatex", "pandoc")
PDF_INSTALL_HINT = (
    "apt-get install -y --no-install-recommends texlive-xetex texlive-fonts-recommended "
    "texlive-plain-generic pandoc"
)
SET_BY_ARGUMENTS = {"data_dir": "data= (fkd report --data DIR)", "profile": "profile= (fkd report --profile NAME)"}
"""Notebook parameters run_report fills in itself; they are not accepted in ``params``."""


class ReportError(FkdError, RuntimeError):
    """A report that could not be made, with a message that says what to do."""


class NotebookFailed(ReportError):
    """A notebook raised; ``partial`` is the partly executed notebook kept for debugging."""

    def __init__(self, message: str, *, notebook: Path, partial: Path | None,
                 cell: int | None = None, ename: str = "", evalue: str = "") -> None:
        super().__init__(message)
        self.notebook = notebook
        self.partial = partial
        self.cell = cell
        self.ename = ename
        self.evalue = evalue


@dataclass(frozen=True)
class ReportResult:
    """Where the report went. ``pdf`` is empty when PDFs were skipped (see ``pdf_skipped``)."""

    out: Path
    html: list[Path]
    pdf: list[Path]
    seconds: float
    demo: bool
    pdf_skipped: str | None = None
    """Why no PDF was written (missing tools), or None."""
    notebook_seconds: dict[str, float] | None = None
    """Seconds each notebook took to execute, by notebook name, and the rendering ("rendering")."""
    combined: bool = True
    """Whether the combined report was (re)built; it is left alone when notebooks are missing."""


# --- where the notebooks are ------------------------------------------------------------


def notebooks_dir() -> Path:
    """The study's notebooks: inside the installed package (``fkd/notebooks``, copied there when
    the wheel is built), else a source checkout's top-level ``notebooks/``."""
    packaged = Path(__file__).resolve().parent / "notebooks"
    if any(packaged.glob("[0-9]*.ipynb")):
        return packaged
    return Path(__file__).resolve().parents[1] / "notebooks"


def study_notebooks() -> list[Path]:
    """Every numbered notebook of the study, in order."""
    found = sorted(notebooks_dir().glob("[0-9]*.ipynb"))
    if not found:
        raise ReportError(f"no notebooks found in {notebooks_dir()}")
    return found


def _notebook_paths(notebooks: Sequence[str | Path] | None) -> list[Path]:
    if notebooks is None:
        return study_notebooks()
    folder, paths = notebooks_dir(), []
    for item in notebooks:
        path = Path(item)
        candidates = [path, folder / path, folder / f"{path}.ipynb"]
        match = next((c for c in candidates if c.is_file() and c.suffix == ".ipynb"), None)
        if match is None:
            available = ", ".join(p.stem for p in sorted(folder.glob("*.ipynb")))
            raise ReportError(f"no notebook {str(item)!r}; available: {available or 'none'}")
        paths.append(match.resolve())
    return paths


# --- executing ----------------------------------------------------------------------------


HIDDEN_TAGS = ("setup", "bootstrap", "solution")
"""Cells tagged with these stay in the notebook but are left out of the rendered HTML and PDF: imports,
path resolution and installing fkd (a reader learns nothing from them), and the exercises' teachers' notes
and expected results (``solution``, :data:`fkd.classroom.SOLUTION_TAG`)."""
INJECTED_TAG = "injected-parameters"
"""The tag papermill gives the cell it adds with a run's parameters."""
OUTPUT_ONLY_TAG = "output-only"
"""A cell whose output is shown and whose code is not: the combined report's headline table, and every
exercise cell holding a solution region (the report shows its verdict, not the solution)."""


def _execute(source: Path, target: Path, parameters: dict[str, Any], kernel_log: Any) -> None:
    import papermill

    from fkd.console import kernel_log_manager

    papermill.execute_notebook(
        str(source), str(target), parameters=parameters, kernel_name=KERNEL, progress_bar=True,
        cwd=str(Path.cwd()), kernel_manager_class=kernel_log_manager(kernel_log),
        # C-level output (TensorFlow's start-up lines) goes to the kernel's log, not into the report;
        # Python's own prints and warnings are still captured in the notebook.
        extra_arguments=["--IPKernelApp.capture_fd_output=False"],
    )


def _failure_message(source: Path, error: BaseException, partial: Path | None) -> tuple[str, str, int | None]:
    """(one-paragraph summary for the exception, the cell's traceback to print, its execution count)."""
    from papermill.exceptions import PapermillExecutionError

    kept = (f"the partly executed notebook is kept at {partial}" if partial
            else "no partly executed notebook was written")
    if isinstance(error, PapermillExecutionError):
        first_line = next((line.strip() for line in error.source.splitlines() if line.strip()), "")
        summary = (
            f"notebook {source.name} failed in cell In [{error.exec_count}] (starting {first_line!r}): "
            f"{error.ename}: {error.evalue}\n{kept}; earlier reports are untouched"
        )
        traceback = _strip_ansi("\n".join(error.traceback))
        detail = f"{error.source}\n\n{traceback}"
        return summary, detail, error.exec_count
    summary = (f"notebook {source.name} failed: {type(error).__name__}: {error}\n{kept}; "
               "earlier reports are untouched")
    return summary, "", None


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


# --- timings ------------------------------------------------------------------------------


def timings_path(runs_dir: Path, profile: str, fingerprint: str) -> Path:
    """Where a report records how long each notebook took, for the next report's estimate."""
    return runs_dir / "reports" / f"{profile}-{fingerprint}.json"


def _estimate_line(runs_dir: Path, profile: str, fingerprint: str, paths: list[Path]) -> str:
    """How long this report took last time on these data, or what the committed benchmark measured."""
    import json

    from fkd.display import format_number

    path = timings_path(runs_dir, profile, fingerprint)
    if path.is_file():
        last = json.loads(path.read_text())
        seconds = sum(last["notebooks"].get(p.stem, 0.0) for p in paths)
        return (f"the last {profile} report on these data took {format_number(round(seconds))} s for these notebooks "
                f"({last['recorded_at'][:16]}; models it trained are now cached, so a rerun is faster)")
    from fkd.benchmark import published

    measured = published() or {}
    report = (measured.get("report") or {}).get(profile)
    if report and all(p.stem in report["notebooks"] for p in paths):  # the study's notebooks, not someone's own
        seconds = sum(report["notebooks"].get(p.stem, 0.0) for p in paths)
        machine = measured["hardware"]
        return (f"measured for the {profile} profile on {measured['data']['source']}: about "
                f"{format_number(round(seconds))} s on a {machine['logical_cores']}-core {machine['cpu_model']}")
    return "no earlier timing to estimate from"


# --- rendering ----------------------------------------------------------------------------


def _missing_pdf_tools() -> list[str]:
    return [tool for tool in PDF_TOOLS if shutil.which(tool) is None]


def _render(nb: Any, stem: Path, title: str, pdf: bool) -> list[Path]:
    """Write ``stem``.html (and ``stem``.pdf) from an executed notebook node, setup cells left out."""
    from nbconvert import HTMLExporter, PDFExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    def exporter(kind: type) -> Any:
        # Two LaTeX passes settle the long tables' layout; nbconvert's default third one changes nothing here.
        made = kind(latex_count=2) if kind is PDFExporter else kind()
        made.register_preprocessor(TagRemovePreprocessor(remove_cell_tags=set(HIDDEN_TAGS),
                                                         remove_input_tags={OUTPUT_ONLY_TAG}, enabled=True),
                                   enabled=True)
        return made

    from fkd.atomic import write_bytes, write_text

    nb = _paths_shown(nb)
    resources = {"metadata": {"name": title}}
    body, _ = exporter(HTMLExporter).from_notebook_node(nb, resources=dict(resources))
    written = [write_text(stem.with_suffix(".html"), body)]
    if pdf:
        try:
            data, _ = exporter(PDFExporter).from_notebook_node(nb, resources=dict(resources))
        except Exception as error:  # nbconvert's LatexFailed carries the LaTeX log
            raise ReportError(f"LaTeX could not render {stem.name}.pdf: {error}") from error
        written.append(write_bytes(stem.with_suffix(".pdf"), data))
    return written


def _paths_shown(nb: Any) -> Any:
    """A copy of ``nb`` whose papermill parameters cell shows paths as :func:`fkd.display.format_path` does.

    The executed notebook keeps the real paths (it may be rerun); what is rendered for readers does not name
    the account or machine it was made on.
    """
    import copy

    from fkd.display import format_parameter_paths

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if INJECTED_TAG in cell.metadata.get("tags", []):
            cell.source = format_parameter_paths(cell.source)
    return nb


def _title_of(nb: Any, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _combined(executed: list[tuple[Path, Any]], heading: list[Any]) -> Any:
    """All executed notebooks as one, in order, after the ``heading`` cells, without papermill's
    injected-parameter cells."""
    import copy

    import nbformat

    first = executed[0][1]
    combined = nbformat.v4.new_notebook(metadata=copy.deepcopy(dict(first.metadata)))
    combined.metadata.pop("papermill", None)
    combined.metadata["title"] = "Facial keypoint detection: the fkd report"
    combined.cells.extend(heading)
    for path, nb in executed:
        for i, cell in enumerate(nb.cells):
            if INJECTED_TAG in cell.metadata.get("tags", []):
                continue
            cell = copy.deepcopy(cell)
            cell["id"] = f"{path.stem}-{i}"[:64]
            cell.metadata.pop("papermill", None)
            combined.cells.append(cell)
    return combined


def notebooks_digest(paths: Sequence[Path] | None = None) -> str:
    """SHA-256 of the study notebooks' files, in order: which notebook sources a report was rendered from.

    The published report (``reports/``) states it on its first page and in ``published.json``, and a test
    compares it with the committed notebooks, so a report that no longer matches them cannot go unnoticed.
    """
    import hashlib

    digest = hashlib.sha256()
    for path in paths or study_notebooks():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def training_speeds(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Training images per second of each network run (by its first name), as recorded when it was trained."""
    from fkd.results import run_names

    return {run_names(run)[0]: run["images_per_second"] for run in runs
            if run["config"]["kind"] != "knn" and run.get("images_per_second")}


def _heading(notebooks: list[tuple[Path, Any]], profile: Any, seed: int, data_files: Any,
             headline: Any, speeds: dict[str, float]) -> list[Any]:
    """What a reader wants first: the data, the profile, the machine, the headline table, where the detail is.

    The headline table (a :class:`fkd.display.Table`, or None) is a cell output rather than markdown, so the
    PDF sets it with the Table's own LaTeX (columns fitted to the line), as every table of the notebooks.
    """
    import nbformat

    from fkd import __version__ as version
    from fkd.display import format_number
    from fkd.machine import describe

    shown = [name for name in ("cnn_baseline", "modelh_12", "best") if name in speeds] or sorted(speeds)[:3]
    speed = ", ".join(f"`{name}` {format_number(round(speeds[name]))}" for name in shown)
    about = [
        "# About this report", "",
        f"Generated {datetime.datetime.now():%Y-%m-%d %H:%M} by fkd {version}, from notebook sources "
        f"`{notebooks_digest([path for path, _ in notebooks])[:16]}` (SHA-256).", "",
        f"**Data:** {'SYNTHETIC DEMO FACES -- ' + DEMO_BANNER_TEXT if data_files.demo else f'`{data_files.root}`'}",
        "",
        f"**Profile:** {profile.name} ({profile.description}); seed {seed}.", "",
        f"**Machine:** {describe()}."
        + (f" Training speed (images per second, as recorded when each run was trained): {speed}." if speed else ""),
    ]
    cells = [nbformat.v4.new_markdown_cell("\n".join(about), id="report-heading")]
    if headline is not None:
        cells.append(nbformat.v4.new_markdown_cell(
            "**The study against ours** (validation RMSE in pixels; the study's figures were measured on Kaggle's "
            "faces; the final table at the end lists every run):", id="report-headline-title"))
        table = nbformat.v4.new_code_cell("headline_table(runs, seed)", id="report-headline")
        table.metadata["tags"] = [OUTPUT_ONLY_TAG]
        table.outputs = [nbformat.v4.new_output("display_data", data={
            "text/plain": repr(headline), "text/html": headline._repr_html_(),
            "text/latex": headline._repr_latex_(), "text/markdown": headline._repr_markdown_()})]
        cells.append(table)
    contents = ["**Contents:**", ""]
    contents += [f"{i}. {_title_of(nb, path.stem)} (`{path.name}`)" for i, (path, nb) in enumerate(notebooks, 1)]
    cells.append(nbformat.v4.new_markdown_cell("\n".join(contents), id="report-contents"))
    return cells


# --- the report ---------------------------------------------------------------------------


def run_report(
    data: str | Path | None = None,
    profile: str = DEFAULT_PROFILE,
    out: str | Path = "reports",
    params: dict[str, Any] | None = None,
    notebooks: list[str] | None = None,
) -> ReportResult:
    """Execute the notebooks and write ``<out>/NN_name.{ipynb,html,pdf}`` and ``<out>/report.{html,pdf}``.

    ``data``: folder with Kaggle's files (default ``./data``, else generated demo
    data). ``params``: extra notebook parameters (``seed``, ``runs_dir`` and each
    notebook's own knobs); unknown or ill-typed ones raise :class:`ParameterError`
    before anything runs. ``notebooks``: names or paths (default: every numbered
    notebook of the study, in order). With only some notebooks, the combined report
    is rebuilt from every executed notebook in ``out`` made with the same profile
    and data -- or, if any is missing, left as it was, never replaced by a partial one.

    Raises :class:`ReportLocked` if another report is writing into ``out`` and
    :class:`NotebookFailed` if a notebook raises (its partial output is kept in
    ``<out>/failed/``). In both cases ``out`` keeps its previous report.
    """
    from fkd.data import load_training
    from fkd.profiles import get_profile
    from fkd.sources import resolve_data

    start = time.perf_counter()
    out = Path(out).resolve()
    try:
        the_profile = get_profile(profile)
    except KeyError as error:
        raise ReportError(error.args[0]) from None
    paths = _notebook_paths(notebooks)
    params = dict(params or {})
    reserved = sorted(set(params) & set(SET_BY_ARGUMENTS))
    if reserved:
        raise ParameterError("; ".join(
            f"parameter {name!r} is set by run_report's {SET_BY_ARGUMENTS[name]}, not by params"
            for name in reserved
        ))
    user = validate_parameters(paths, params)
    runs_dir = Path(user.pop("runs_dir", None) or out.parent / "runs").resolve()
    seed = user.pop("seed", DEFAULT_SEED)
    check_folder(out, "report")
    check_folder(runs_dir, "run records and models")

    with report_lock(out):
        data_files = resolve_data(data)
        fingerprint = load_training(data_files).fingerprint
        common = {"data_dir": str(Path(data_files.root).resolve()), "profile": profile,
                  "seed": seed, "runs_dir": str(runs_dir)}
        missing_tools = _missing_pdf_tools()
        pdf_skipped = None
        if missing_tools:
            pdf_skipped = f"{' and '.join(missing_tools)} not found"
            print(f"fkd report: {pdf_skipped}, so no PDFs will be written (HTML only). To get PDFs, "
                  f"install them:\n  {PDF_INSTALL_HINT}", file=sys.stderr)
        if data_files.demo:
            print(f"fkd report: *** {DEMO_BANNER_TEXT} ***", file=sys.stderr)
        print(f"fkd report: {len(paths)} notebook{'s' * (len(paths) > 1)}, profile {profile}; "
              f"{_estimate_line(runs_dir, profile, fingerprint, paths)}", file=sys.stderr, flush=True)

        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".fkd-report-tmp-", dir=out.parent))
        try:
            executed, seconds = _execute_all(paths, staging, common, user, out)
            _record_timings(runs_dir, profile, fingerprint, seconds)
            began = time.perf_counter()
            everything = _with_earlier_notebooks(executed, out, common)
            written = _render_all(executed, everything, staging, the_profile, seed, data_files, runs_dir,
                                  fingerprint, pdf=not missing_tools)
            final = _publish(written, [staging / p.name for p, _ in executed], out)
            seconds["rendering"] = time.perf_counter() - began
            for path, _ in executed:  # failures fixed since an earlier run
                (out / FAILED_DIR / path.name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                (out / FAILED_DIR).rmdir()  # only if empty
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    html = [p for p in final if p.suffix == ".html"]
    pdf = [p for p in final if p.suffix == ".pdf"]
    result = ReportResult(out, html, pdf, time.perf_counter() - start, bool(data_files.demo), pdf_skipped,
                          notebook_seconds=seconds, combined=everything is not None)
    return result


def _record_timings(runs_dir: Path, profile: str, fingerprint: str, seconds: dict[str, float]) -> None:
    """Merge this report's seconds per notebook into the record the next report estimates from."""
    import json

    from fkd.atomic import write_json

    path = timings_path(runs_dir, profile, fingerprint)
    earlier = json.loads(path.read_text())["notebooks"] if path.is_file() else {}
    write_json(path, {"profile": profile, "data_fingerprint": fingerprint, "notebooks": {**earlier, **seconds},
                      "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def _execute_all(paths: list[Path], staging: Path, common: dict[str, Any], user: dict[str, Any],
                 out: Path) -> tuple[list[tuple[Path, Any]], dict[str, float]]:
    import nbformat

    from fkd.atomic import write_error

    executed, seconds = [], {}
    with open(staging / "kernels.log", "w") as kernel_log:
        for number, source in enumerate(paths, 1):
            declared = notebook_parameters(source)
            parameters = {k: v for k, v in {**common, **user}.items() if k in declared}
            target = staging / source.name
            print(f"fkd report: [{number}/{len(paths)}] {source.stem}", file=sys.stderr, flush=True)
            began = time.perf_counter()
            try:
                _execute(source, target, parameters, kernel_log)
            except BaseException as error:
                partial = None
                if target.is_file() and not isinstance(error, KeyboardInterrupt):
                    partial = out / FAILED_DIR / source.name
                    partial.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(target, partial)
                    kernel_log.flush()
                    shutil.copy(staging / "kernels.log", partial.parent / "kernels.log")  # the kernel's own stderr
                if isinstance(error, (KeyboardInterrupt, SystemExit)):
                    raise
                refused = write_error(error, target) if isinstance(error, OSError) else None
                if refused is not None:  # a full disk or the like while papermill wrote the notebook: one line
                    raise refused from None
                message, detail, cell = _failure_message(source, error, partial)
                if detail:
                    print(f"fkd report: {source.name} failed in this cell:\n{detail}\n", file=sys.stderr)
                raise NotebookFailed(message, notebook=source, partial=partial, cell=cell,
                                     ename=getattr(error, "ename", type(error).__name__),
                                     evalue=getattr(error, "evalue", str(error))) from error
            seconds[source.stem] = time.perf_counter() - began
            print(f"fkd report: {source.stem} done in {seconds[source.stem]:.0f} s", file=sys.stderr, flush=True)
            executed.append((source, nbformat.read(target, as_version=4)))
    return executed, seconds


def _with_earlier_notebooks(executed: list[tuple[Path, Any]], out: Path,
                            common: dict[str, Any]) -> list[tuple[Path, Any]] | None:
    """Every study notebook, executed now or earlier into ``out`` with the same data, profile and seed.

    None when any is missing (the combined report is then left as it was). A report of
    notebooks that are not the study's combines just those.
    """
    import nbformat

    study = study_notebooks()
    now = {path.stem: (path, nb) for path, nb in executed}
    if not set(now) <= {path.stem for path in study}:
        return executed
    everything = []
    for path in study:
        if path.stem in now:
            everything.append(now[path.stem])
            continue
        earlier = out / path.name
        if not earlier.is_file():
            return None
        nb = nbformat.read(earlier, as_version=4)
        used = nb.metadata.get("papermill", {}).get("parameters", {})
        if any(used.get(key, common[key]) != common[key] for key in ("data_dir", "profile", "seed")):
            return None
        everything.append((path, nb))
    return everything


def _render_all(executed: list[tuple[Path, Any]], everything: list[tuple[Path, Any]] | None, staging: Path,
                profile: Any, seed: int, data_files: Any, runs_dir: Path, fingerprint: str,
                pdf: bool) -> list[Path]:
    import nbformat

    from fkd.results import headline_table, runs_for_profile

    jobs = [(nb, staging / source.stem, _title_of(nb, source.stem)) for source, nb in executed]
    written = []
    if everything is None:
        print("fkd report: the combined report was left as it was: not every notebook has been executed "
              "with this profile and data (run `fkd report` without --notebooks to rebuild it)",
              file=sys.stderr)
    else:
        runs = runs_for_profile(runs_dir, fingerprint, profile)
        headline = headline_table(runs, seed) if runs else None
        combined = _combined(everything, _heading(everything, profile, seed, data_files, headline,
                                                  training_speeds(runs)))
        nbformat.write(combined, staging / f"{COMBINED_NAME}.ipynb")
        written.append(staging / f"{COMBINED_NAME}.ipynb")
        jobs.insert(0, (combined, staging / COMBINED_NAME, combined.metadata["title"]))  # the longest first
    print(f"fkd report: rendering {len(jobs)} documents to HTML{' and PDF' * pdf}", file=sys.stderr, flush=True)
    # LaTeX runs one process per document: render them side by side, one per CPU core.
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        for files in pool.map(_render, *zip(*jobs), [pdf] * len(jobs)):
            written += files
    return written


def _publish(files: list[Path], notebooks: list[Path], out: Path) -> list[Path]:
    """Move finished files into ``out`` (same file system: each move is one atomic rename)."""
    final = []
    for path in [*notebooks, *files]:
        if path.is_file():
            destination = out / path.name
            os.replace(path, destination)
            final.append(destination)
    return final
