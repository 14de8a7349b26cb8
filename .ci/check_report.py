"""CI check of a finished report folder: every HTML/PDF is there, and the PDFs'
text (pdftotext) holds the final RMSE table with a row for every model run.

Usage: python .ci/check_report.py REPORT_DIR [DATA_DIR] [PROFILE]
"""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

from fkd.data import load_training
from fkd.profiles import get_profile
from fkd.results import runs_for_profile


def pdf_text(path: Path) -> str:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    return unicodedata.normalize("NFKC", text)  # TeX typesets "ff" in "ffill" as one ligature


def main(out: Path, data: Path, profile: str) -> None:
    notebooks = sorted(Path("notebooks").glob("[0-9]*.ipynb"))
    expected = [out / f"{nb.stem}.{ext}" for nb in notebooks for ext in ("html", "pdf")]
    expected += [out / "report.html", out / "report.pdf"]
    missing = [str(path) for path in expected if not path.is_file()]
    assert not missing, f"missing report files: {missing}"

    runs = runs_for_profile(out.parent / "runs", load_training(data).fingerprint, get_profile(profile))
    assert runs, "no runs recorded for this report"
    for pdf in (out / "report.pdf", out / f"{notebooks[-1].stem}.pdf"):
        lines = pdf_text(pdf).splitlines()
        assert any("Val RMSE" in line for line in lines), f"{pdf}: no RMSE table header"
        for run in runs:
            figure = f"{run['val_rmse']:.3f}".rstrip("0").rstrip(".")
            rows = [line for line in lines if line.split()[:1] == [run["model"]] and figure in line]
            assert rows, f"{pdf}: no table row for {run['model']} with RMSE {figure}"
    print(f"report OK: {len(expected)} files; the final table has a row for each of {len(runs)} runs")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(Path(args[0]), Path(args[1] if len(args) > 1 else "../shared/data/faces15"),
         args[2] if len(args) > 2 else "smoke")
