"""Developer sessions: `nox -s tests`, `nox -s report -- --profile smoke`, `nox -s lab`, `nox -s benchmark`,
`nox -s classroom`.

Each session installs fkd into its own virtual environment (reused with `nox -R`).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


def _install(session: nox.Session) -> None:
    session.install("-e", ".[dev]")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (notebooks included, executed on demo data with the smoke profile)."""
    _install(session)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Execute the notebooks and render HTML/PDF reports; arguments go to `fkd report`."""
    _install(session)
    session.run("python", "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3")
    session.run("fkd", "report", *session.posargs)


@nox.session
def lab(session: nox.Session) -> None:
    """JupyterLab at the repository's root, opened on notebooks/, with fkd importable (classroom use).

    The root is the repository, not notebooks/, so the notebooks' links into docs/ (the glossary) open.
    """
    _install(session)
    session.run("python", "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3")
    session.run("jupyter", "lab", "--ServerApp.root_dir=.", "--ServerApp.default_url=/lab/tree/notebooks",
                *session.posargs)


@nox.session
def benchmark(session: nox.Session) -> None:
    """The speed/accuracy benchmark; pass `-- --quick` for the short CI version."""
    _install(session)
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session
def classroom(session: nox.Session) -> None:
    """Students' and instructor's copies of the notebooks; arguments go to `fkd classroom` (default: --out build/classroom)."""
    _install(session)
    session.run("fkd", "classroom", *(session.posargs or ["--out", "build/classroom"]))
