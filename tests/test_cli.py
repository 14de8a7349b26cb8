"""The `fkd` command: clear one-line errors, and train -> predict -> submission end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fkd.cli import main
from fkd.demo import write_demo_data


def _fkd(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fkd.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_bad_data_prints_one_line_and_exits_non_zero(tmp_path):
    (tmp_path / "training.csv").write_text("left_eye_center_x,Image\n1,2\n")
    result = _fkd("train", "--data", str(tmp_path), "--model", "knn", cwd=tmp_path)
    assert result.returncode == 1
    assert "fkd: error:" in result.stderr and "missing column" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_model_lists_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--model", "resnet9000"])
    assert exit_.value.code == 2 and "modelh_12" in capsys.readouterr().err


def test_predict_without_training_says_what_to_run(tmp_path, capsys):
    data = write_demo_data(tmp_path / "demo", n_train=60, n_test=10)
    code = main(["predict", "--data", str(data), "--model", "cnn_flip", "--submission",
                 str(tmp_path / "s.csv"), "--runs-dir", str(tmp_path / "runs")])
    assert code == 1 and "fkd train" in capsys.readouterr().err


def test_submission_into_a_missing_folder_is_refused_before_work(tmp_path, capsys):
    code = main(["predict", "--model", "knn", "--submission", str(tmp_path / "no" / "s.csv")])
    assert code == 1 and "does not exist" in capsys.readouterr().err


def test_train_then_predict_writes_a_complete_submission(tmp_path, capsys):
    data = write_demo_data(tmp_path / "demo", n_train=80, n_test=12)
    runs = str(tmp_path / "runs")
    common = ["--data", str(data), "--model", "cnn_baseline", "--runs-dir", runs]
    assert main(["train", *common, "--epochs", "1", "--seed", "3"]) == 0
    first = capsys.readouterr()
    assert "validation RMSE" in first.out and "DEMO DATA" in first.err
    assert main(["train", *common, "--epochs", "1", "--seed", "3"]) == 0
    assert "reused the cached model" in capsys.readouterr().out
    out = tmp_path / "submission.csv"
    assert main(["predict", "--data", str(data), "--model", "cnn_baseline", "--runs-dir", runs,
                 "--submission", str(out)]) == 0
    submission = pd.read_csv(out)
    lookup = pd.read_csv(data / "IdLookupTable.csv")
    assert len(submission) == len(lookup) and submission["RowId"].tolist() == lookup["RowId"].tolist()
    assert submission["Location"].between(0, 96).all()
