"""The demo faces tell the study's story: at the standard profile its orderings hold on them as on real faces.

Slow (about eight minutes on two CPU cores at ~150 images/s), so deselected by default; CI runs it
with ``python -m pytest -m orderings``. It runs ``benchmarks/demo_orderings.py`` as a user would,
on the default demo set (the faces ``fkd report`` falls back to) at reduced size: the study's
models only, without ``best``, whose place at the bottom of the table the published report shows
(``tests/test_published.py``). A smaller demo set was tried and is too small: with 2,000 training
faces (700 complete) cnn_flip's last epochs swing 5.5-6.7 px and it lost to k-NN (6.69 against 6.61).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.orderings
def test_the_studys_orderings_hold_on_demo_faces_at_the_standard_profile(tmp_path: Path) -> None:
    out = tmp_path / "orderings.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "demo_orderings.py"), "--profile", "standard",
         "--models", "knn", "nn2", "cnn_baseline", "cnn_flip", "modelh_12", "--json", str(out)],
        capture_output=True, text=True, timeout=3600,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    checks = json.loads(out.read_text())["checks"]
    claims = {check["claim"]: check for check in checks}
    assert len(claims) == 6, claims  # k-NN beaten three times, nn2, modelh_12 vs baseline, best lowest
    assert claims["best is lower than every run of the study's models"]["holds"] is None  # best not trained
    failed = [f"{check['claim']}: {check['detail']}" for check in checks
              if check["holds"] is not True and not check["claim"].startswith("best")]
    assert failed == [], "\n".join(failed) + "\n" + done.stdout
