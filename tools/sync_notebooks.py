"""Keep the committed notebooks in shape: run after editing any notebook.

* writes the bootstrap cell (installs fkd when a notebook is opened on its own) from
  ``fkd.notebook.BOOTSTRAP_TEMPLATE`` and pyproject.toml's ``[project.urls] Repository``,
  as the first code cell, tagged ``bootstrap``;
* gives every cell an id and upgrades the file to nbformat 4.5 (no MissingIDFieldWarning);
* clears outputs and execution counts (notebooks are committed without outputs).

``tests/test_notebooks.py`` fails when a notebook differs from what this script writes.

Usage: python tools/sync_notebooks.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fkd.notebook import BOOTSTRAP_TAG, bootstrap_source, repository_url  # noqa: E402


def synced(nb: nbformat.NotebookNode, bootstrap: str) -> nbformat.NotebookNode:
    """``nb`` with its bootstrap cell written, ids given, outputs cleared, at nbformat 4.5."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    cells = [c for c in nb.cells if BOOTSTRAP_TAG not in c.metadata.get("tags", [])]
    first_code = next(i for i, c in enumerate(cells) if c.cell_type == "code")
    cell = nbformat.v4.new_code_cell(bootstrap, id="bootstrap")
    cell.metadata["tags"] = [BOOTSTRAP_TAG]
    cells.insert(first_code, cell)
    for i, cell in enumerate(cells):
        if not cell.get("id"):
            cell["id"] = f"cell-{i}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells = cells
    return nb


def main() -> None:
    bootstrap = bootstrap_source(repository_url((REPO / "pyproject.toml").read_text()))
    for path in sorted((REPO / "notebooks").glob("[0-9]*.ipynb")):
        nb = synced(nbformat.read(path, as_version=4), bootstrap)
        nbformat.validate(nb)
        nbformat.write(nb, path)
        print(f"synced {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
