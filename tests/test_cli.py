"""The `fkd` command: clear one-line errors, and train -> predict -> submission end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fkd.cli import main
from fkd.demo import write_demo_data
from fkd.parameters import SEED_MAX


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


# --- bad input: each class gets one clear line, and nothing is recorded or written ----------


@pytest.mark.parametrize("option, value", [("--epochs", "-3"), ("--epochs", "0"), ("--epochs", "two"),
                                           ("--seed", "-1"), ("--seed", str(SEED_MAX + 1)),
                                           ("--max-train-rows", "0")])
def test_bad_numbers_are_refused_by_argparse_before_anything_runs(tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--model", "cnn_flip", option, value, "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"argument {option}" in err and ("at " in err or "whole number" in err)
    assert not (tmp_path / "runs").exists()


def test_a_submission_path_that_is_a_folder_is_refused_before_work(tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    code = main(["predict", "--model", "knn", "--submission", str(folder)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and f"fkd: error: {folder}: is a folder" in err
    assert list(folder.iterdir()) == [] and [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("out, says", [
    ("notes.txt", "{file}: is a file, not a folder; give a folder for the report"),
    ("notes.txt/reports", "{file}: is a file, so the folder for the report ({file}/reports) cannot be made"),
], ids=["a file", "a folder under a file"])
def test_a_report_out_path_that_is_a_file_is_refused_in_one_line_before_work(tmp_path, kaggle_dir, capsys, out,
                                                                            says):
    (tmp_path / "notes.txt").write_text("my notes")
    before = sorted(tmp_path.iterdir())
    code = main(["report", "--data", str(kaggle_dir), "--out", str(tmp_path / out)])
    err = capsys.readouterr().err
    assert code == 1 and err == f"fkd: error: {says.format(file=tmp_path / 'notes.txt')}\n"
    assert sorted(tmp_path.iterdir()) == before and (tmp_path / "notes.txt").read_text() == "my notes"


def test_a_duplicated_rowid_in_the_lookup_table_is_refused(tmp_path, capsys):
    data = write_demo_data(tmp_path / "demo", n_train=40, n_test=4)
    lookup = (data / "IdLookupTable.csv").read_text().splitlines()
    lookup[3] = lookup[3].replace(lookup[3].split(",")[0], lookup[2].split(",")[0], 1)  # line 4 repeats line 3's RowId
    (data / "IdLookupTable.csv").write_text("\n".join(lookup) + "\n")
    runs = str(tmp_path / "runs")
    assert main(["train", "--data", str(data), "--model", "knn", "--runs-dir", runs]) == 0
    capsys.readouterr()
    code = main(["predict", "--data", str(data), "--model", "knn", "--runs-dir", runs, "--submission",
                 str(tmp_path / "s.csv")])
    err = capsys.readouterr().err
    assert code == 1 and "IdLookupTable.csv, line 4, column 'RowId'" in err and "appears twice" in err
    assert not (tmp_path / "s.csv").exists()


def _broken_model_error(tmp_path: Path, capsys, damage) -> str:
    data = write_demo_data(tmp_path / "demo", n_train=40, n_test=4)
    runs = tmp_path / "runs"
    common = ["--data", str(data), "--model", "cnn_baseline", "--runs-dir", str(runs)]
    assert main(["train", *common, "--epochs", "1", "--max-train-rows", "20"]) == 0
    (model,) = (runs / "models").iterdir()
    damage(model)
    capsys.readouterr()
    code = main(["predict", *common, "--submission", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and err.splitlines()[-1].startswith(f"fkd: error: {model}: ")
    assert "delete it and train the model again" in err and not (tmp_path / "s.csv").exists()
    return err.splitlines()[-1]


def test_a_truncated_model_file_names_the_file_and_what_to_do(tmp_path, capsys):
    _broken_model_error(tmp_path, capsys, lambda path: path.write_bytes(path.read_bytes()[:500]))


def test_a_model_that_safe_mode_refuses_names_the_file_and_why(tmp_path, capsys):
    import keras

    def unsafe(path: Path) -> None:  # a Lambda layer: Keras' safe mode will not deserialise its code
        keras.Sequential([keras.Input((96, 96, 1)), keras.layers.Lambda(lambda x: x * 2)]).save(path)

    assert "safe" in _broken_model_error(tmp_path, capsys, unsafe).lower()


def test_python_dash_m_fkd_is_the_fkd_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "fkd", "train", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "--max-train-rows" in done.stdout


# --- keypoints on your own photo ---------------------------------------------------------------


def test_predict_image_finds_one_and_two_faces_and_writes_kaggles_columns(tmp_path, faces15, capsys):
    from fkd.data import load_training
    from fkd.keypoints import COORDINATE_COLUMNS
    from fkd.photo import example_photo
    from tests.helpers import save_photo

    faces = load_training(faces15).images[[0, 400]]
    runs = ["--data", str(faces15), "--model", "knn", "--runs-dir", str(tmp_path / "runs")]
    assert main(["train", *runs]) == 0
    for n, placement in ((1, [(60, 40, 220)]), (2, [(40, 40, 200), (400, 60, 240)])):
        photo = save_photo(example_photo(faces[:n], placement, width=700, height=340), tmp_path / f"p{n}.jpg",
                           quality=95)
        annotated, table = tmp_path / f"p{n}-annotated.png", tmp_path / f"p{n}.csv"
        capsys.readouterr()
        assert main(["predict", *runs, "--image", str(photo), "--out", str(annotated),
                     "--keypoints-csv", str(table)]) == 0
        assert f"{n} face{'s' * (n > 1)} found" in capsys.readouterr().out
        frame = pd.read_csv(table)
        assert list(frame.columns) == ["face", "box_x", "box_y", "box_size", *COORDINATE_COLUMNS]
        assert frame["face"].tolist() == list(range(n)) and frame["box_x"].is_monotonic_increasing
        assert frame[list(COORDINATE_COLUMNS)].notna().all().all()
        assert annotated.stat().st_size > 0


def test_predict_image_without_a_trained_model_says_which_command_trains_one(tmp_path, capsys):
    from fkd.photo import background
    from tests.helpers import save_photo

    data = write_demo_data(tmp_path / "demo", n_train=40, n_test=4)
    photo = save_photo(background(200, 150), tmp_path / "wall.png")
    code = main(["predict", "--data", str(data), "--image", str(photo), "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 1 and f"fkd train --data {data} --model best" in err and "SYNTHETIC DEMO" in err
    assert not (tmp_path / "wall-keypoints.png").exists()


def test_predict_image_of_a_missing_photo_names_it_before_any_work(tmp_path, capsys):
    code = main(["predict", "--image", str(tmp_path / "nope.jpg"), "--runs-dir", str(tmp_path / "runs")])
    assert code == 1 and f"{tmp_path / 'nope.jpg'}: no such photo" in capsys.readouterr().err


def test_train_and_predict_print_only_fkds_own_lines(tmp_path):
    """No TensorFlow start-up lines (absl, CUDA probes, oneDNN) and no Python warnings reach the console."""
    from tests.helpers import foreign_lines

    data = write_demo_data(tmp_path / "demo", n_train=60, n_test=6)
    common = ["--data", str(data), "--model", "cnn_baseline", "--runs-dir", str(tmp_path / "runs")]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    for args in (["train", *common, "--epochs", "1"], ["predict", *common, "--submission", str(tmp_path / "s.csv")]):
        done = subprocess.run([sys.executable, "-m", "fkd", *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=600, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert foreign_lines(done.stdout + done.stderr) == [], args[0]
