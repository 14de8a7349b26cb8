"""The networks are the study's, layer for layer; optimizers follow the config."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fkd.configs import REGISTRY, get_config
from fkd.models import build_model, make_optimizer

NETWORK_CONFIGS = [config for config in REGISTRY.values() if config.kind != "knn"]


def layer_kinds(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("config", NETWORK_CONFIGS, ids=lambda config: config.name)
def test_every_registered_network_maps_a_face_to_30_coordinates(config):
    model = build_model(config)
    assert model.name == config.name
    assert model.input_shape == (None, 96, 96, 1)
    assert model.output_shape == (None, 30)
    if config.kind == "cnn":
        assert layer_kinds(model).count("Conv2D") == len(config.filters)
        assert layer_kinds(model).count("MaxPooling2D") == sum(config.pool_after)


def test_modelh_12_is_five_conv_pool_pairs_with_same_padding_first():
    model = build_model(get_config("modelh_12"))
    assert layer_kinds(model) == ["Conv2D", "MaxPooling2D"] * 5 + [
        "Dropout",
        "Flatten",
        "Dense",
        "Dense",
    ]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [conv.filters for conv in convs] == [32, 64, 128, 256, 512]
    assert [conv.padding for conv in convs] == ["same"] + ["valid"] * 4
    assert all(conv.kernel_size == (3, 3) for conv in convs)
    # 96 -same-> 96 -pool-> 48 -> 46 -> 23 -> 21 -> 10 -> 8 -> 4 -> 2 -> 1
    assert model.get_layer("pool5").output.shape == (None, 1, 1, 512)
    assert model.layers[-2].units == 50
    assert model.get_layer("dropout").rate == 0.2


def test_cnn_baseline_is_the_studys_model3():
    model = build_model(get_config("cnn_baseline"))
    assert layer_kinds(model) == ["Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dense"]
    assert model.get_layer("pool2").output.shape == (None, 46, 46, 64)


def test_kernel_size_changes_only_the_first_convolution():
    model = build_model(get_config("modelh_1"))
    assert model.get_layer("conv1").kernel_size == (2, 2)
    assert model.get_layer("conv2").kernel_size == (3, 3)


def test_two_layer_net_has_the_studys_parameter_count():
    # the study's model2.summary(): 921,700 + 3,030 = 924,730 parameters
    assert build_model(get_config("nn2")).count_params() == 924_730


def test_knn_is_not_a_network():
    with pytest.raises(ValueError, match="knn"):
        build_model(get_config("knn"))


def test_optimizer_follows_the_config():
    optimizer = make_optimizer(get_config("modelh_12"), steps_per_epoch=10)
    assert isinstance(optimizer, keras.optimizers.RMSprop)
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)

    adamw = make_optimizer(get_config("best"), steps_per_epoch=10)
    assert isinstance(adamw, keras.optimizers.AdamW)
    assert adamw.weight_decay == pytest.approx(1e-4)


def test_cosine_schedule_decays_to_zero_when_training_ends():
    config = get_config("best").replace(learning_rate=0.01)
    optimizer = make_optimizer(config, steps_per_epoch=10, epochs=5)
    schedule = keras.optimizers.schedules.deserialize(optimizer.get_config()["learning_rate"])
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(25)) == pytest.approx(0.005, rel=1e-3)
    assert float(schedule(50)) == pytest.approx(0.0, abs=1e-7)


def test_unknown_optimizer_is_refused_by_name():
    with pytest.raises(ValueError, match="sgd"):
        make_optimizer(get_config("cnn_baseline").replace(optimizer="sgd"), steps_per_epoch=1)


def test_network_output_is_finite_for_a_blank_face():
    model = build_model(get_config("cnn_flip").replace(filters=(4, 8), dense_units=8))
    output = model.predict(np.zeros((2, 96, 96, 1), np.float32), verbose=0)
    assert output.shape == (2, 30) and np.isfinite(output).all()
