"""Configs are data: they round-trip through JSON, and each step of the study's grid changes one idea."""

from __future__ import annotations

import pytest

from fkd.configs import REGISTRY, TUNING_GRID, ModelConfig, get_config


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registered_config_round_trips_through_json(name):
    config = get_config(name)
    assert ModelConfig.from_json(config.to_json()) == config


STEPS = {
    # each point of the study's grid: the config it was derived from, and the fields that idea changes
    "cnn_flip": ("cnn_baseline", {"augmentation.flip"}),
    "modelh_1": ("cnn_flip", {"kernel_size"}),
    "modelh_2": ("cnn_flip", {"kernel_size"}),
    "modelh_3": ("cnn_flip", {"dropout"}),
    "modelh_4": ("cnn_flip", {"dropout"}),
    "modelh_5": ("cnn_flip", {"filters", "pool_after"}),
    "modelh_6": ("cnn_flip", {"filters", "pool_after"}),
    "modelh_66": ("cnn_flip", {"filters", "pool_after"}),
    "modelh_6_1": ("modelh_6", {"pool_after"}),
    "modelh_8": ("modelh_6", {"epochs"}),
    "modelh_9": ("modelh_6", set()),  # the same config as modelh_6, under another name (the study's 1.43 and 1.44)
    "modelh_10": ("modelh_6", {"epochs"}),
    "modelh_11": ("modelh_6", {"epochs"}),
    "modelh_11_1": ("modelh_6", {"epochs"}),
    "modelh_12": ("modelh_11", {"first_padding"}),
    "modelh_12_noflip": ("modelh_12", {"augmentation.flip"}),  # ours
    "best_noflip": ("best", {"augmentation.flip", "tta_flip"}),  # ours: no mirroring anywhere, for notebook 03
    "cnn_baseline_keras3": ("cnn_baseline", {"optimizer"}),  # ours: Keras 3's RMSprop, for notebook 02
}


def test_the_steps_cover_the_whole_grid():
    assert set(TUNING_GRID) <= set(STEPS)


@pytest.mark.parametrize("name", list(STEPS))
def test_each_step_of_the_grid_changes_one_idea_from_its_parent(name):
    parent, changed = STEPS[name]
    differences = get_config(parent).differences(get_config(name))
    assert set(differences) - {"name", "description"} == changed


def test_the_study_grid_reproduces_the_papers_numbers():
    assert [get_config(n).kernel_size for n in ("modelh_1", "modelh_2")] == [2, 4]
    assert [get_config(n).dropout for n in ("modelh_3", "modelh_4")] == [0.5, 0.1]
    assert [get_config(n).epochs for n in ("modelh_8", "modelh_9", "modelh_10", "modelh_11", "modelh_11_1")] == [
        40, 100, 200, 300, 400]
    best_study = get_config("modelh_12")
    assert (best_study.optimizer, best_study.learning_rate, best_study.batch_size, best_study.dropout) == (
        "keras2_rmsprop", 1e-3, 32, 0.2)


def test_unknown_names_and_fields_are_explained():
    with pytest.raises(KeyError, match="choose one of"):
        get_config("resnet9000")
    with pytest.raises(ValueError, match="unknown model config fields: colour"):
        ModelConfig.from_dict({"name": "x", "kind": "cnn", "colour": "red"})
    with pytest.raises(ValueError, match="pool_after"):
        ModelConfig("x", "cnn", filters=(1, 2, 3), pool_after=(True,))
