"""Configs are data: they round-trip through JSON and the study's grid is complete."""

from __future__ import annotations

import pytest

from fkd.configs import REGISTRY, TUNING_GRID, ModelConfig, get_config


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registered_config_round_trips_through_json(name):
    config = get_config(name)
    assert ModelConfig.from_json(config.to_json()) == config


def test_the_study_grid_varies_one_idea_at_a_time():
    assert get_config("modelh_1").kernel_size == 2 and get_config("modelh_2").kernel_size == 4
    assert get_config("modelh_3").dropout == 0.5 and get_config("modelh_4").dropout == 0.1
    assert len(get_config("modelh_5").filters) == 4 and len(get_config("modelh_66").filters) == 6
    assert get_config("modelh_6_1").pool_after[0] is False
    assert [get_config(n).epochs for n in ("modelh_8", "modelh_9", "modelh_10", "modelh_11", "modelh_11_1")] == [
        40, 100, 200, 300, 400]
    best_study = get_config("modelh_12")
    assert (best_study.first_padding, best_study.epochs, best_study.optimizer, best_study.batch_size) == (
        "same", 300, "rmsprop", 32)
    assert best_study.augmentation.flip and len(TUNING_GRID) == 14


def test_unknown_names_and_fields_are_explained():
    with pytest.raises(KeyError, match="choose one of"):
        get_config("resnet9000")
    with pytest.raises(ValueError, match="unknown model config fields: colour"):
        ModelConfig.from_dict({"name": "x", "kind": "cnn", "colour": "red"})
    with pytest.raises(ValueError, match="pool_after"):
        ModelConfig("x", "cnn", filters=(1, 2, 3), pool_after=(True,))
