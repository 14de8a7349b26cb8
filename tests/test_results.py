"""Run records, the cache key, and the final RMSE table."""

from __future__ import annotations

import json
import math

import pytest

from fkd.configs import get_config
from fkd.results import RunKey, add_name, latest_run, load_runs, rmse_table, run_names, write_record


def _key(**changes) -> RunKey:
    fields = dict(config=get_config("cnn_flip"), fingerprint="abc", split="study", seed=1, epochs=2,
                  max_train_rows=None)
    fields.update(changes)
    return RunKey(**fields)


def test_cache_key_changes_with_anything_that_changes_the_model():
    base = _key().digest
    assert _key().digest == base
    for change in ({"seed": 2}, {"epochs": 3}, {"fingerprint": "abd"}, {"split": "grouped"},
                   {"max_train_rows": 300}, {"config": get_config("cnn_flip").replace(dropout=0.3)}):
        assert _key(**change).digest != base, change


def test_cache_key_ignores_names_and_descriptions():
    """knn and knn_k5, modelh_6 and modelh_9 are the same training under two names."""
    assert RunKey(get_config("knn"), "abc", "study", 1, 1, None).digest == RunKey(
        get_config("knn").replace(name="knn_k5", description="k = 5"), "abc", "study", 1, 1, None).digest
    assert _key(config=get_config("modelh_6")).digest == _key(config=get_config("modelh_9")).digest
    assert _key(config=get_config("modelh_11")).digest != _key(config=get_config("modelh_12")).digest


def test_records_are_written_whole_as_json_and_read_back(tmp_path):
    path = write_record(tmp_path, _key(), {"val_rmse": 2.5, "seconds": 1.0, "n_train": 10, "history": {},
                                           "per_keypoint_rmse": {"nose_tip": float("nan")}})
    text = path.read_text()
    record = json.loads(text)  # strict JSON: a NaN is written as null, never as a bare NaN
    assert "NaN" not in text and record["per_keypoint_rmse"]["nose_tip"] is None
    assert record["model"] == "cnn_flip" and record["names"] == ["cnn_flip"] and record["versions"]["numpy"]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    assert [run["val_rmse"] for run in load_runs(tmp_path)] == [2.5]
    assert load_runs(tmp_path, fingerprint="other") == []


@pytest.mark.parametrize("epochs, score", [(0, 2.5), (-3, 2.5), (2, float("nan")), (2, None)])
def test_a_run_that_did_not_train_cannot_be_recorded(tmp_path, epochs, score):
    with pytest.raises(ValueError, match="did not train"):
        write_record(tmp_path, _key(epochs=epochs), {"val_rmse": score, "history": {}})
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").iterdir())


def test_an_untrained_record_on_disk_is_never_the_latest_run(tmp_path):
    write_record(tmp_path, _key(), {"val_rmse": 2.5, "history": {}})
    forged = dict(json.loads(next((tmp_path / "results").iterdir()).read_text()), epochs=-3, key="zzz",
                  recorded_at="2999-01-01T00:00:00")
    (tmp_path / "results" / "zzz.json").write_text(json.dumps(forged))
    assert latest_run(tmp_path, "cnn_flip", "abc")["epochs"] == 2


def test_one_training_answers_to_every_name_it_was_asked_by(tmp_path):
    key = RunKey(get_config("modelh_6"), "abc", "study", 1, 2, None)
    write_record(tmp_path, key, {"val_rmse": 2.0, "history": {}})
    add_name(tmp_path, RunKey(get_config("modelh_9"), "abc", "study", 1, 2, None), "modelh_9")
    (run,) = load_runs(tmp_path)
    assert run_names(run) == ["modelh_6", "modelh_9"]
    assert latest_run(tmp_path, "modelh_9", "abc")["val_rmse"] == 2.0
    assert "modelh_6, modelh_9" in repr(rmse_table([run]))


def test_rmse_table_groups_splits_and_puts_the_best_first(tmp_path):
    write_record(tmp_path, _key(), {"val_rmse": 2.5, "seconds": 1.0, "n_learned": 10, "history": {}})
    write_record(tmp_path, _key(config=get_config("knn")), {"val_rmse": 3.5, "seconds": 0.1, "n_learned": 10,
                                                             "history": {}})
    write_record(tmp_path, _key(config=get_config("best"), split="grouped"), {"val_rmse": 1.5, "n_learned": 99,
                                                                               "history": {}})
    lines = repr(rmse_table(load_runs(tmp_path))).splitlines()
    assert "Val RMSE (px)" in lines[0] and "Study (px)" in lines[0]
    assert [line.split()[0] for line in lines[1:4]] == ["cnn_flip", "knn", "best"]  # study split, then grouped
    assert " 1.60 " in lines[1] and " 2.45 " in lines[2]  # the study's printed figures, by name
    assert "<table>" in rmse_table(load_runs(tmp_path))._repr_html_()


def test_profile_selection_keeps_only_that_profiles_runs(tmp_path):
    from fkd.profiles import get_profile
    from fkd.results import runs_for_profile

    smoke = get_profile("smoke")
    epochs, rows = smoke.epochs_for(_key().config), smoke.max_train_rows
    write_record(tmp_path, _key(epochs=epochs, max_train_rows=rows), {"val_rmse": 2.5, "history": {}})
    write_record(tmp_path, _key(epochs=20, max_train_rows=None), {"val_rmse": 2.0, "history": {}})
    write_record(tmp_path, _key(epochs=epochs, max_train_rows=rows, fingerprint="zzz"), {"val_rmse": 1.0, "history": {}})
    chosen = runs_for_profile(tmp_path, "abc", smoke)
    assert [(run["epochs"], run["data_fingerprint"]) for run in chosen] == [(epochs, "abc")]
    assert math.isclose(chosen[0]["val_rmse"], 2.5)


def test_an_interrupt_before_the_record_is_written_leaves_no_model_file(tmp_path, monkeypatch):
    import fkd.experiment
    from fkd.configs import get_config
    from fkd.data import Dataset
    from fkd.experiment import run_experiment
    from tests.helpers import tiny_faces

    images, keypoints = tiny_faces(12)
    dataset = Dataset(images, keypoints, "tiny faces", "tiny")
    config = get_config("cnn_baseline").replace(filters=(2, 2), dense_units=4, epochs=1)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fkd.experiment, "write_record", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, dataset, split="random", seed=0, runs_dir=tmp_path, progress=False)
    assert not list(tmp_path.rglob("*.keras")) and not list(tmp_path.rglob("*.json"))
