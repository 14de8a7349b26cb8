"""``fkd report --publish``: the report a reader can read without running anything, kept in the repository.

Readers who will never run a notebook still deserve the study. ``publish`` renders
every notebook, and the combined report, on fkd's synthetic demo faces -- never on
real faces, which may not be redistributed -- into the checkout's ``reports/``
folder, trains every model afresh (a temporary runs folder, so every figure comes
from this one run on this one machine), and writes ``reports/published.json``:
the SHA-256 of the notebook sources it was rendered from, the date, profile, CPU,
training speed and fkd version. The report's first page states the same.

:func:`published_problems` compares that record with the notebooks as they are;
a test runs it on the repository, so a notebook edited after the report was
published fails the suite until the report is published again.
"""

from __future__ import annotations

import datetime
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from fkd import __version__
from fkd.profiles import DEFAULT_PROFILE

PUBLISHED = "published.json"
"""The record of a published report, beside it in ``reports/``."""

ACCOUNT_PATH = re.compile(r"/root/|/home/[^/\s\"'<]+/|/Users/[^/\s\"'<]+/|[A-Za-z]:\\{1,2}Users\\")
"""A path inside someone's home folder: a committed report shows such paths as ``~/...``
(:func:`fkd.display.format_path`), never as the account it was made under."""

PUBLISHED_FILES = ("report", "01_eda", "02_baselines", "03_augmentation", "04_tuning", "05_appendix",
                   "06_summary")
"""The documents a published report holds, each as HTML and PDF."""


def checkout_root() -> Path:
    """The source checkout the notebooks come from; publishing writes into its ``reports/``."""
    from fkd.report import ReportError, notebooks_dir

    root = notebooks_dir().resolve().parent
    if not (root / "pyproject.toml").is_file() or notebooks_dir().resolve() != root / "notebooks":
        raise ReportError("--publish writes the report into a source checkout's reports/ folder; run it in a "
                          "clone of the repository (an installed fkd has no such folder)")
    return root


def publish(root: Path | None = None, profile: str = DEFAULT_PROFILE, demo: Path | None = None,
            runs_dir: Path | None = None) -> Any:
    """Render the report on demo faces into ``<root>/reports`` and record what it was made from.

    ``demo``: a folder of demo faces (default: fkd's own, :func:`fkd.sources.demo_dir`); real faces are
    refused, since nothing made from them may be committed. ``runs_dir``: where the models are trained
    (default: a temporary folder, removed afterwards, so nothing is reused from earlier runs). Returns
    :class:`fkd.report.ReportResult`.
    """
    from fkd.atomic import write_json
    from fkd.data import find_data, load_training
    from fkd.demo import write_demo_data
    from fkd.machine import cpu_model, usable_cores
    from fkd.profiles import get_profile
    from fkd.report import ReportError, notebooks_digest, run_report, training_speeds
    from fkd.results import runs_for_profile
    from fkd.sources import demo_dir

    root = Path(root) if root is not None else checkout_root()
    files = find_data(demo if demo is not None else write_demo_data(demo_dir()))
    if not files.demo:
        raise ReportError(f"{files.root} holds real faces; a published report is rendered on fkd's demo faces "
                          "only, since nothing made from real faces may be committed")
    out = root / "reports"
    with tempfile.TemporaryDirectory(prefix="fkd-publish-runs-") as fresh:
        runs_dir = runs_dir or Path(fresh)
        result = run_report(data=files.root, profile=profile, out=out, params={"runs_dir": runs_dir})
        runs = runs_for_profile(runs_dir, load_training(files).fingerprint, get_profile(profile))
        speeds = training_speeds(runs)
    write_json(out / PUBLISHED, {
        "notebooks_sha256": notebooks_digest(),
        "fkd_version": __version__,
        "generated_at": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "profile": profile,
        "data": "fkd demo faces",
        "cpu_model": cpu_model(),
        "cores": usable_cores(),
        "training_images_per_second": {name: round(value, 1) for name, value in sorted(speeds.items())},
        "seconds": round(result.seconds),
        "notebook_seconds": {name: round(value) for name, value in (result.notebook_seconds or {}).items()},
        "files": sorted(path.name for path in (*result.html, *result.pdf)),
    })
    return result


def published_problems(root: Path) -> list[str]:
    """What is wrong with ``<root>/reports`` as a published report: missing, or stale against the notebooks."""
    from fkd.report import notebooks_digest

    record_path = root / "reports" / PUBLISHED
    if not record_path.is_file():
        return [f"{record_path} is missing: run `fkd report --publish` in the checkout"]
    record = json.loads(record_path.read_text())
    problems = []
    if record.get("notebooks_sha256") != notebooks_digest():
        problems.append("the notebooks changed after the report was published: run `fkd report --publish` again")
    for stem in PUBLISHED_FILES:
        for suffix in (".html", ".pdf"):
            if not (root / "reports" / f"{stem}{suffix}").is_file():
                problems.append(f"reports/{stem}{suffix} is missing")
    for path in sorted((root / "reports").glob("*.html")):
        found = ACCOUNT_PATH.search(path.read_text(errors="replace"))
        if found:
            problems.append(f"reports/{path.name} names a home folder ({found.group(0)}...): show paths with "
                            "fkd.display.format_path and publish again")
    combined = root / "reports" / "report.html"
    if combined.is_file() and str(record.get("notebooks_sha256", ""))[:16] not in combined.read_text():
        problems.append("reports/report.html does not state the notebook sources published.json records")
    return problems
