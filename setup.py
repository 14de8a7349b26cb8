"""Build step: ship the study's notebooks inside the package.

The notebooks live at the top of the repository (``notebooks/``), where students
and ``nox -s lab`` open them; a wheel must carry them too, so that ``fkd report``
works after a plain ``pip install``. Building copies them into ``fkd/notebooks``
of the build, never of the source tree (``fkd.report.notebooks_dir`` looks in
the package first, then in a source checkout). Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


class BuildWithNotebooks(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "fkd" / "notebooks"
        target.mkdir(parents=True, exist_ok=True)
        for notebook in sorted(NOTEBOOKS.glob("[0-9]*.ipynb")):
            shutil.copy2(notebook, target / notebook.name)


setup(cmdclass={"build_py": BuildWithNotebooks})
