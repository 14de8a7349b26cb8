"""fkd beyond a source checkout: the wheel, installed in a fresh virtual environment, and a notebook opened alone.

The two fresh-environment tests install TensorFlow, so they take minutes; they are
marked ``venv`` and left out of the default run (``python -m pytest``); CI runs
them with ``python -m pytest -m venv``. Both use pip's cache (``PIP_CACHE_DIR`` if
set, else pip's default), which the project's own install has already filled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO


def _build_wheel(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(dest), str(REPO)], check=True, capture_output=True, text=True)
    (wheel,) = dest.glob("fkd-*.whl")
    return wheel


def test_the_wheel_carries_the_notebooks_and_the_committed_results(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    notebooks = sorted(p.name for p in (REPO / "notebooks").glob("[0-9]*.ipynb"))
    assert {f"fkd/notebooks/{name}" for name in notebooks} <= names
    assert {f"fkd/measured/{p.name}" for p in (REPO / "fkd" / "measured").iterdir()} <= names
    assert not (REPO / "fkd" / "notebooks").exists()  # the build copies into the build, never the source tree


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path / ("Scripts" if os.name == "nt" else "bin") / "python"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, "FKD_CACHE_DIR": str(tmp_path / "fkd-cache"), "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


def _run(command: list[str], **options) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, **options)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.venv
def test_the_installed_wheel_runs_the_smoke_report_from_an_empty_folder(tmp_path):
    python = _venv(tmp_path / "venv")
    env = _env(tmp_path)
    _run([str(python), "-m", "pip", "install", "--quiet", str(_build_wheel(tmp_path / "dist"))], env=env)
    work = tmp_path / "empty"
    work.mkdir()
    fkd = [str(python), "-m", "fkd"]
    assert _run([*fkd, "--version"], cwd=work, env=env).stdout.startswith("fkd ")
    _run([str(python), "-c", "from fkd.demo import write_demo_data; write_demo_data('faces', n_train=240, n_test=20)"],
         cwd=work, env=env)
    _run([*fkd, "report", "--profile", "smoke", "--data", "faces"], cwd=work, env=env)
    written = {p.name for p in (work / "reports").iterdir()}
    assert {"report.html", "01_eda.html", "06_summary.html"} <= written
    assert "site-packages" in _run([str(python), "-c", "import fkd; print(fkd.__file__)"], cwd=work, env=env).stdout


@pytest.mark.venv
def test_a_notebook_opened_alone_installs_fkd_and_runs(tmp_path):
    """Colab, Binder or a bare Jupyter, simulated: one notebook, a venv with only Jupyter and papermill."""
    python = _venv(tmp_path / "venv")
    env = _env(tmp_path, FKD_INSTALL_SOURCE=str(REPO))
    _run([str(python), "-m", "pip", "install", "--quiet", "jupyter", "ipykernel", "papermill"], env=env)
    assert _run([str(python), "-c", "import importlib.util as u; print(u.find_spec('fkd'))"], env=env,
                cwd=tmp_path).stdout.strip() == "None"
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(REPO / "notebooks" / "01_eda.ipynb", alone)
    _run([str(python), "-m", "papermill", "01_eda.ipynb", "executed.ipynb", "-p", "profile", "smoke",
          "-p", "runs_dir", "runs", "-k", "python3", "--cwd", str(alone)], cwd=alone, env=env)
    assert (alone / "executed.ipynb").stat().st_size > 0
    _run([str(python), "-c", "import fkd"], env=env, cwd=tmp_path)  # the bootstrap cell installed it
