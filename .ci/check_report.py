"""CI check of a finished report folder: every HTML/PDF is there, the PDFs' text (pdftotext) holds
the final RMSE table with a row for every training, and the console showed only fkd's own lines.

Usage: python .ci/check_report.py REPORT_DIR [DATA_DIR] [PROFILE] [CONSOLE_LOG]
"""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests.helpers

from fkd.data import load_training  # noqa: E402
from fkd.profiles import get_profile  # noqa: E402
from fkd.report import study_notebooks  # noqa: E402
from fkd.results import run_names, runs_for_profile  # noqa: E402
from tests.helpers import foreign_lines  # noqa: E402


def pdf_text(path: Path) -> str:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    return unicodedata.normalize("NFKC", text)  # TeX typesets "ff" in "ffill" as one ligature


def table_rows(text: str) -> list[str]:
    """The text's lines, with a line holding one word alone joined to the next: LaTeX sets a name too long
    for its column (cnn_baseline_keras3) on a line above the rest of its row."""
    lines = text.splitlines()
    return [f"{line} {lines[i + 1]}" if len(line.split()) == 1 and i + 1 < len(lines) else line
            for i, line in enumerate(lines)]


def main(out: Path, data: Path, profile: str, console: Path | None) -> None:
    notebooks = study_notebooks()
    expected = [out / f"{nb.stem}.{ext}" for nb in notebooks for ext in ("html", "pdf")]
    expected += [out / "report.html", out / "report.pdf"]
    missing = [str(path) for path in expected if not path.is_file()]
    assert not missing, f"missing report files: {missing}"

    runs = runs_for_profile(out.parent / "runs", load_training(data).fingerprint, get_profile(profile))
    assert runs, "no runs recorded for this report"
    for pdf in (out / "report.pdf", out / f"{notebooks[-1].stem}.pdf"):
        text = pdf_text(pdf)
        assert "Runs are grouped by split" in text, f"{pdf}: no final RMSE table (its note is missing)"
        for run in runs:
            figure = f"{run['val_rmse']:.3f}"
            rows = [line for line in table_rows(text)
                    if run_names(run)[0] in line and figure in line and f" {run['seed']} " in line]
            assert rows, f"{pdf}: no table row for {run_names(run)}, seed {run['seed']}, with RMSE {figure}"
    if console is not None:
        foreign = foreign_lines(console.read_text())
        assert not foreign, f"the console showed lines that are not fkd's: {foreign[:5]}"
    print(f"report OK: {len(expected)} files; the final table has a row for each of {len(runs)} trainings"
          + ("; the console held only fkd's own lines" if console else ""))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(Path(args[0]), Path(args[1] if len(args) > 1 else "../shared/data/faces15"),
         args[2] if len(args) > 2 else "smoke", Path(args[3]) if len(args) > 3 else None)
