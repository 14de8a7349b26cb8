"""The benchmark: its library (targets, format, README block) and the script's quick run on demo data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fkd import benchmark as bench
from fkd.demo import write_demo_data
from fkd.keypoints import KEYPOINT_NAMES
from fkd.results import load_runs

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"

RUN_FIELDS = {
    "model", "split", "missing", "train_rows", "val_rows", "epochs", "val_rmse", "val_rmse_complete_rows",
    "per_keypoint_rmse", "train_seconds", "train_cpu_seconds", "images_per_second", "inference_ms_per_image",
    "val_rmse_history", "epoch_end_seconds", "epoch_end_cpu_seconds", "trained_by", "measured_at", "reused",
}


def _run_script(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", *args], capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path, Path]:
    root = tmp_path_factory.mktemp("benchmark")
    data = write_demo_data(root / "data", n_train=240, n_test=20)
    out = root / "results"
    _run_script("--data", str(data), "--out", str(out))
    assert (out / "benchmark-quick-time-to-accuracy.png").stat().st_size > 0
    return json.loads((out / "benchmark-quick.json").read_text()), (out / "benchmark-quick.md").read_text(), data, out


@pytest.mark.slow
def test_quick_benchmark_trains_every_recipe_through_the_one_run_cache(quick):
    results, _, _, out = quick
    assert results["complete"] is True and results["data"]["demo"] is True
    runs = {(run["model"], run["split"]): run for run in results["accuracy"]}
    assert {("modelh_12", "grouped"), ("modelh_12", "random"), ("best", "grouped"), ("best", "random")} <= set(runs)
    for run in runs.values():
        assert RUN_FIELDS <= set(run)
        assert set(run["per_keypoint_rmse"]) == set(KEYPOINT_NAMES)
        assert run["val_rmse"] > 0 and run["train_seconds"] > 0 and run["inference_ms_per_image"] > 0
        assert len(run["val_rmse_history"]) == len(run["epoch_end_seconds"]) == run["epochs"] == 2
    assert runs[("modelh_12", "grouped")]["missing"] == "dropna" and runs[("best", "grouped")]["missing"] == "masked"
    # fkd train's own run is best's grouped accuracy run: the user's command is what is scored
    assert runs[("best", "grouped")]["trained_by"] == "fkd train (CLI)"
    assert "best" in results["cli_train"]["output"] and results["cli_train"]["cpu_seconds"] > 0
    # every accuracy run left an ordinary run record in <out>/runs, the same format notebooks and commands use
    recorded = {(run["model"], run["split"]) for run in load_runs(out / "runs")}
    assert set(runs) <= recorded


@pytest.mark.slow
def test_quick_benchmark_records_speed_loading_machine_and_targets(quick):
    results, _, _, _ = quick
    methods = {(r["model"], r["method"]) for r in results["throughput"]}
    assert methods == {("modelh_12", "bare_fit"), ("modelh_12", "fkd_pipeline"), ("modelh_12", "study_loop"),
                       ("best", "bare_fit"), ("best", "fkd_pipeline")}
    assert all(r["images_per_second"] > 0 and r["images_per_cpu_second"] > 0 for r in results["throughput"])
    assert results["load"]["first_seconds"] > 0 and results["load"]["cached_seconds"] > 0
    assert results["load"]["peak_memory_ratio"] > 0  # parsing takes memory, even under a large parent process
    assert set(results["split_gap"]) >= {"modelh_12", "best"}
    names = {t["name"] for t in results["targets"]}
    assert {"rmse_limit", "rmse_reduction", "cli_train_seconds", "time_to_accuracy_fraction", "pipeline_overhead",
            "load_first_seconds", "load_cached_seconds"} <= names
    assert results["hardware"]["cpu_model"] and {"python", "tensorflow", "keras"} <= set(results["versions"])


@pytest.mark.slow
def test_quick_benchmark_markdown_has_every_section(quick):
    _, text, _, _ = quick
    for heading in ("## Targets", "## Accuracy", "How much the random split flatters", "### Per keypoint",
                    "## Time to accuracy", "## Training throughput", "## `fkd train`", "## Loading", "## Machine"):
        assert heading in text, heading
    assert "Quick mode" in text and "SYNTHETIC DEMO DATA" in text and all(n in text for n in KEYPOINT_NAMES)


@pytest.mark.slow
def test_a_second_invocation_keeps_earlier_parts_and_only_remeasures_what_it_is_asked(quick):
    results, _, data, out = quick
    _run_script("--data", str(data), "--out", str(out), "--only", "modelh_12:random")
    again = json.loads((out / "benchmark-quick.json").read_text())
    runs = {(r["model"], r["split"]): r for r in again["accuracy"]}
    assert set(runs) == {(r["model"], r["split"]) for r in results["accuracy"]}
    assert runs[("best", "random")]["reused"] is True  # kept from the first invocation
    assert runs[("modelh_12", "random")]["reused"] is True  # asked for: re-scored from the one run cache
    assert again["cli_train"] == results["cli_train"] and again["complete"] is True


# --- the library ----------------------------------------------------------------------------


def _results(wall_fraction: float = 0.1, cpu_fraction: float = 0.15, best_rmse: float = 1.5) -> dict:
    return {
        "accuracy": [{"model": "modelh_12", "split": "grouped", "val_rmse": 2.4},
                     {"model": "best", "split": "grouped", "val_rmse": best_rmse, "train_cpu_seconds": 1000.0,
                      "train_seconds": 800.0},
                     {"model": "best_v1", "split": "grouped", "val_rmse": 1.77, "train_cpu_seconds": 980.0,
                      "train_seconds": 790.0}],
        "cli_train": {"seconds": 900.0, "cpu_seconds": 1000.0},
        "time_to_accuracy": {"reached": True, "fraction_of_reference": wall_fraction,
                             "cpu_fraction_of_reference": cpu_fraction},
        "throughput": [{"model": "best", "method": "bare_fit", "images_per_second": 100.0, "images_per_cpu_second": 90.0},
                       {"model": "best", "method": "fkd_pipeline", "images_per_second": 95.0,
                        "images_per_cpu_second": 80.0}],
        "report": {"standard": {"seconds": 2500.0, "notebooks": {}}},
        "load": {"first_seconds": 1.2, "cached_seconds": 0.3},
    }


def _targets(**changes) -> dict[str, dict]:
    return {t["name"]: t for t in bench.evaluate_targets(_results(**changes))}


def test_targets_are_judged_against_their_limits():
    targets = _targets()
    assert targets["rmse_limit"]["met"] and not _targets(best_rmse=1.61)["rmse_limit"]["met"]
    assert targets["training_budget"]["value"] == pytest.approx(1000 / 980) and targets["training_budget"]["met"]
    assert targets["rmse_reduction"]["value"] == pytest.approx(0.375) and targets["rmse_reduction"]["met"]
    assert targets["cli_train_seconds"]["met"] and targets["time_to_accuracy_fraction"]["met"]
    assert targets["pipeline_overhead"]["value"] == pytest.approx(0.05) and targets["pipeline_overhead"]["met"]
    assert targets["report_standard_seconds"]["met"] and targets["report_smoke_seconds"]["met"] is None
    assert targets["load_first_seconds"]["met"] and targets["load_cached_seconds"]["met"] is False


def test_time_to_accuracy_must_be_met_on_both_clocks():
    assert not _targets(wall_fraction=0.1, cpu_fraction=0.3)["time_to_accuracy_fraction"]["met"]
    assert not _targets(wall_fraction=0.3, cpu_fraction=0.1)["time_to_accuracy_fraction"]["met"]


def test_time_to_accuracy_finds_the_first_epoch_at_the_reference_level():
    reference = {"val_rmse_history": [8.0, 4.0, 2.5], "train_seconds": 30.0, "train_cpu_seconds": 60.0}
    ours = {"val_rmse_history": [3.0, 2.4, 1.9], "epoch_end_seconds": [4.0, 8.0, 12.0],
            "epoch_end_cpu_seconds": [5.0, 10.0, 15.0]}
    reached = bench.time_to_accuracy(reference, ours)
    assert (reached["epoch"], reached["seconds"], reached["cpu_seconds"]) == (2, 8.0, 10.0)
    assert reached["fraction_of_reference"] == pytest.approx(8 / 30)
    assert not bench.time_to_accuracy(reference, {**ours, "val_rmse_history": [9.0, 9.0, 9.0]})["reached"]


def _benchmark_file(tmp_path: Path, fingerprint: str = "abc") -> Path:
    results = {**_results(), "mode": "full", "complete": False, "started_at": "2026-11-24T12:00:00+0000",
               "seed": 42, "data": {"fingerprint": fingerprint, "source": "faces15/training.zip"},
               "hardware": {"cpu_model": "AMD EPYC", "logical_cores": 2}, "versions": {"tensorflow": "2.21"}}
    for run in results["accuracy"]:
        run.update(missing="masked", epochs=3, val_rmse_complete_rows=None, train_seconds=30.0,
                   train_cpu_seconds=run.get("train_cpu_seconds", 50.0), train_rows=10,
                   val_rmse_history=[8.0, 4.0, run["val_rmse"]], epoch_end_seconds=[10.0, 20.0, 30.0])
    results["targets"] = bench.evaluate_targets(results)
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(results))
    return path


def test_summary_shows_targets_runs_and_whether_it_is_complete(tmp_path):
    results, why = bench.load_benchmark(_benchmark_file(tmp_path), "abc")
    text = bench.summary(results)
    assert why == "ok" and "INCOMPLETE" in text and "AMD EPYC" in text
    assert "| grouped-split val RMSE of best, flip TTA (px)" in text and "fkd report --profile standard" in text
    assert "pipeline" not in text  # engineering targets belong in benchmark.md and the READMEs, not the notebook


def test_a_benchmark_of_other_data_or_no_file_is_not_shown(tmp_path):
    results, why = bench.load_benchmark(_benchmark_file(tmp_path, fingerprint="other"), "abc")
    assert results is None and "other data" in why and "faces15" in why
    results, why = bench.load_benchmark(tmp_path / "nothing.json", "abc")
    assert results is None and "nox -s benchmark" in why


def test_accuracy_curves_pair_times_with_rmse_on_one_split(tmp_path):
    results, _ = bench.load_benchmark(_benchmark_file(tmp_path), "abc")
    curves, target = bench.accuracy_curves(results)
    assert curves["modelh_12"] == ([10.0, 20.0, 30.0], [8.0, 4.0, 2.4]) and set(curves) == {"modelh_12", "best",
                                                                                         "best_v1"}
    assert target == ("modelh_12 final", 2.4)


def test_the_readme_block_is_generated_from_the_results(tmp_path):
    results, _ = bench.load_benchmark(_benchmark_file(tmp_path), "abc")
    block = bench.readme_block(results)
    assert block.startswith(bench.README_START) and block.endswith(bench.README_END)
    assert "2.400" in block and "1.500" in block and "AMD EPYC" in block


@pytest.mark.parametrize("document", ["README.md", "benchmarks/README.md"])
def test_the_readmes_show_the_published_benchmark_exactly(document):
    """Their figures are generated from fkd/measured/benchmark.json, never typed: they must match it."""
    readme = (Path(__file__).resolve().parents[1] / document).read_text()
    start, end = readme.index(bench.README_START), readme.index(bench.README_END) + len(bench.README_END)
    assert readme[start:end] == bench.readme_block(bench.published()), "run `python benchmarks/run.py --publish`"


def test_the_published_copy_holds_no_path_of_the_measuring_machine(tmp_path):
    results, _ = bench.load_benchmark(_benchmark_file(tmp_path), "abc")
    results["data"] |= {"path": "/home/someone/kaggle/faces15", "source": "/home/someone/kaggle/faces15/training.zip"}
    public = bench.public_copy(results)
    assert "/home/someone" not in json.dumps(public)
    assert public["data"]["path"] == "faces15" and public["data"]["source"] == "faces15/training.zip"
    assert public["hardware"] == results["hardware"] and results["data"]["path"].startswith("/home")  # rest unchanged


def test_a_benchmark_without_accuracy_runs_says_so_instead_of_an_empty_table(tmp_path):
    results, _ = bench.load_benchmark(_benchmark_file(tmp_path), "abc")
    block = bench.readme_block({**results, "accuracy": []})
    assert "were not measured in this run" in block and "(the study)" not in block


def test_the_readme_block_says_how_fast_the_machine_was(tmp_path):
    """Times from a machine three times slower are not comparable: the block shows the run's throughput."""
    results, _ = bench.load_benchmark(_benchmark_file(tmp_path), "abc")
    results["throughput"] = [{"model": "best", "method": "fkd_pipeline", "images_per_second": 253.1},
                             {"model": "best", "method": "bare_fit", "images_per_second": 999.0}]
    block = bench.readme_block(results)
    assert "`best` 253" in block and "999" not in block
