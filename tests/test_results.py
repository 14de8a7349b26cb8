"""Run records, the cache key, and the final RMSE table."""

from __future__ import annotations

import json

from fkd.configs import get_config
from fkd.results import RunKey, accuracy_curves, benchmark_markdown, load_benchmark, load_runs, rmse_table, write_record


def _key(**changes) -> RunKey:
    fields = dict(config=get_config("cnn_flip"), fingerprint="abc", split="study", seed=1, epochs=2,
                  max_train_rows=None)
    fields.update(changes)
    return RunKey(**fields)


def test_cache_key_changes_with_anything_that_changes_the_model():
    base = _key().digest
    assert _key().digest == base
    for change in ({"seed": 2}, {"epochs": 3}, {"fingerprint": "abd"}, {"split": "grouped"},
                   {"config": get_config("cnn_flip").replace(dropout=0.3)}):
        assert _key(**change).digest != base


def test_records_are_written_whole_and_read_back(tmp_path):
    path = write_record(tmp_path, _key(), {"val_rmse": 2.5, "seconds": 1.0, "n_train": 10, "history": {}})
    record = json.loads(path.read_text())
    assert record["model"] == "cnn_flip" and record["versions"]["numpy"]
    assert not list(path.parent.glob("*.tmp"))
    assert [run["val_rmse"] for run in load_runs(tmp_path)] == [2.5]
    assert load_runs(tmp_path, fingerprint="other") == []


def test_rmse_table_has_a_row_per_run_best_first(tmp_path):
    write_record(tmp_path, _key(), {"val_rmse": 2.5, "seconds": 1.0, "n_train": 10, "history": {}})
    write_record(tmp_path, _key(config=get_config("knn")), {"val_rmse": 3.5, "seconds": 0.1, "n_train": 10, "history": {}})
    table = rmse_table(load_runs(tmp_path))
    lines = table.splitlines()
    assert "Val RMSE (px)" in lines[0] and len(lines) == 3
    assert lines[1].split()[0] == "cnn_flip" and lines[2].split()[0] == "knn"
    assert "<table>" in rmse_table(load_runs(tmp_path), fmt="html")


def test_profile_selection_keeps_only_that_profiles_runs(tmp_path):
    from fkd.profiles import get_profile
    from fkd.results import runs_for_profile

    smoke = get_profile("smoke")
    write_record(tmp_path, _key(epochs=2, max_train_rows=300), {"val_rmse": 2.5, "history": {}})
    write_record(tmp_path, _key(epochs=20, max_train_rows=None), {"val_rmse": 2.0, "history": {}})
    write_record(tmp_path, _key(epochs=2, max_train_rows=300, fingerprint="zzz"), {"val_rmse": 1.0, "history": {}})
    chosen = runs_for_profile(tmp_path, "abc", smoke)
    assert [(run["epochs"], run["data_fingerprint"]) for run in chosen] == [(2, "abc")]


def _benchmark_json(tmp_path, fingerprint="abc", complete=True):
    results = {
        "mode": "full", "complete": complete, "started_at": "2026-11-24T12:00:00+0000", "reference": "modelh_12",
        "data": {"fingerprint": fingerprint},
        "targets": [{"description": "grouped RMSE reduction", "value": 0.3, "limit": 0.35, "met": False},
                    {"description": "fkd train seconds", "value": None, "limit": 1200, "met": None}],
        "accuracy": [
            {"model": "modelh_12", "split": "grouped", "missing": "dropna", "epochs": 3, "val_rmse": 2.5,
             "val_rmse_complete_rows": 2.6, "train_seconds": 30.0, "val_rmse_history": [8.0, 4.0, 2.5],
             "epoch_end_seconds": [10.0, 20.0, 30.0]},
            {"model": "best", "split": "grouped", "missing": "masked", "epochs": 2, "val_rmse": 1.8123,
             "val_rmse_complete_rows": 1.9, "train_seconds": 8.0, "val_rmse_history": [3.0, 1.9],
             "epoch_end_seconds": [4.0, 8.0]},
            {"model": "best", "split": "random", "missing": "masked", "epochs": 2, "val_rmse": 1.5,
             "val_rmse_complete_rows": 1.6, "train_seconds": 8.0, "val_rmse_history": [3.0, 1.6],
             "epoch_end_seconds": [4.0, 8.0]},
        ],
    }
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(results))
    return path


def test_benchmark_markdown_shows_targets_and_runs(tmp_path):
    results, why = load_benchmark(_benchmark_json(tmp_path, complete=False), "abc")
    assert why == "ok"
    text = benchmark_markdown(results)
    assert "INCOMPLETE" in text and "| grouped RMSE reduction" in text and "1.812" in text
    assert "not measured" in text and "| no " in text


def test_benchmark_of_other_data_or_no_file_is_not_shown(tmp_path):
    results, why = load_benchmark(_benchmark_json(tmp_path, fingerprint="other"), "abc")
    assert results is None and "other data" in why
    results, why = load_benchmark(tmp_path / "nothing.json", "abc")
    assert results is None and "nox -s benchmark" in why


def test_accuracy_curves_pair_times_with_rmse_on_one_split(tmp_path):
    results, _ = load_benchmark(_benchmark_json(tmp_path), "abc")
    curves, target = accuracy_curves(results)
    assert curves == {"modelh_12": ([10.0, 20.0, 30.0], [8.0, 4.0, 2.5]), "best": ([4.0, 8.0], [3.0, 1.9])}
    assert target == ("modelh_12 final", 2.5)
