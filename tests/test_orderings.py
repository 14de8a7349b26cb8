"""The study's story as claims checked on recorded runs."""

from __future__ import annotations

from fkd.orderings import check_orderings

MEAN_FACE = {"study": 8.5, "grouped": 9.0}


def record(names: list[str], rmse: float, split: str = "study", seed: int = 42) -> dict:
    return {"names": names, "val_rmse": rmse, "split": split, "seed": seed}


def story(**changes: float) -> list[dict]:
    scores = {"knn": 6.0, "nn2": 8.5, "cnn_baseline": 5.0, "cnn_flip": 4.8, "modelh_12": 4.0, "best": 2.2,
              "best_noflip": 2.1, **changes}
    return [record(["knn_k5", "knn"] if name == "knn" else [name], value,
                   "grouped" if name.startswith("best") else "study") for name, value in scores.items()]


def test_every_claim_holds_on_the_studys_story():
    found = check_orderings(story(), MEAN_FACE)
    assert [o.holds for o in found] == [True] * 6
    assert found[-1].detail == "2.200 px (grouped split); the study's lowest: 4.000"  # best's variants are no rivals


def test_a_cnn_behind_k_nn_a_learning_nn2_and_a_weak_best_each_fail_their_claim():
    found = {o.claim: o for o in check_orderings(story(cnn_flip=6.5, nn2=5.0, best=4.5), MEAN_FACE)}
    assert not found["cnn_flip beats k-NN"].holds and found["cnn_baseline beats k-NN"].holds
    assert not found["nn2 sits at the mean face"].holds
    assert not found["best is lower than every run of the study's models"].holds


def test_a_claim_whose_run_is_missing_says_so_and_other_seeds_do_not_count():
    runs = [r for r in story() if "modelh_12" not in r["names"]] + [record(["modelh_12"], 1.0, seed=43)]
    found = {o.claim: o for o in check_orderings(runs, MEAN_FACE)}
    assert found["modelh_12 beats k-NN"].holds is None and found["modelh_12 beats k-NN"].detail == "not recorded"
    assert found["best is lower than every run of the study's models"].holds
