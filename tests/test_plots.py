"""Each figure builds from tiny data, with the axes and artists its caption promises."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from fkd import plots
from fkd.keypoints import FLIP_PERMUTATION, KEYPOINT_NAMES

matplotlib.use("Agg")


@pytest.fixture
def faces() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 96, 96), dtype=np.uint8)
    keypoints = rng.uniform(10, 86, size=(5, 30)).astype(np.float32)
    keypoints[3:, 4:] = np.nan  # the last two faces carry only the first two keypoints
    return images, keypoints


def _scatters(ax) -> list[PathCollection]:
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def _bars(ax) -> list:
    return [patch for container in ax.containers if isinstance(container, BarContainer) for patch in container]


def test_faces_grid_draws_one_axes_per_face_with_true_and_predicted_markers(faces):
    images, keypoints = faces
    fig = plots.faces_grid(images, keypoints, keypoints + 1, titles=list("abcde"))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 5
    assert all(len(_scatters(ax)) == 2 for ax in fig.axes)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["true", "predicted"]
    assert fig.axes[4].get_title() == "e"


def test_faces_grid_without_keypoints_has_no_markers_or_legend(faces):
    fig = plots.faces_grid(faces[0][:2])
    assert len(fig.axes) == 2 and not fig.legends
    assert all(not _scatters(ax) for ax in fig.axes)


def test_faces_grid_rejects_keypoints_of_the_wrong_shape(faces):
    images, keypoints = faces
    with pytest.raises(ValueError, match="N x 30|5 x 30"):
        plots.faces_grid(images, keypoints[:, :28])


def test_compare_predictions_has_a_row_per_model_and_a_column_per_face(faces):
    images, keypoints = faces
    fig = plots.compare_predictions(images[:3], {"nn2": keypoints[:3], "best": keypoints[:3] + 2})
    assert len(fig.axes) == 6
    assert fig.axes[0].get_ylabel() == "nn2" and fig.axes[3].get_ylabel() == "best"


def test_missing_labels_chart_has_a_labelled_and_a_missing_bar_per_keypoint(faces):
    fig = plots.missing_labels_chart(faces[1])
    ax = fig.axes[0]
    bars = _bars(ax)
    assert len(bars) == 2 * len(KEYPOINT_NAMES)
    widths = [bar.get_width() for bar in bars[: len(KEYPOINT_NAMES)]]
    assert widths[0] == 5 and widths[-1] == 3  # keypoint 1 always labelled, the last one on 3 faces
    assert "3 with all 15 keypoints" in ax.get_title()


def test_mean_face_shows_the_mean_image_and_the_mean_keypoints(faces):
    images, keypoints = faces
    fig = plots.mean_face(images, keypoints)
    ax = fig.axes[0]
    assert len(ax.images) == 1
    np.testing.assert_allclose(ax.images[0].get_array(), images.mean(axis=0) / 255.0, atol=1e-6)
    assert len(ax.lines) >= 1  # the error-bar markers


def test_keypoint_scatter_draws_one_cloud_per_keypoint(faces):
    fig = plots.keypoint_scatter(faces[1])
    assert len(_scatters(fig.axes[0])) == len(KEYPOINT_NAMES)


def test_group_sizes_chart_counts_groups_by_size():
    fig = plots.group_sizes_chart(np.array([0, 0, 1, 2, 2, 2, 3]))
    heights = {round(bar.get_x() + bar.get_width() / 2): bar.get_height() for bar in _bars(fig.axes[0])}
    assert heights == {1: 2, 2: 1, 3: 1}


def test_learning_curves_draws_a_line_per_history_and_skips_those_without_the_metric():
    fig = plots.learning_curves({
        "a": {"val_rmse": [3.0, 2.0, 1.5]},
        "b": {"val_rmse": [4.0, 3.0], "loss": [0.1, 0.05]},
        "knn": {},
    })
    lines = fig.axes[0].lines
    assert [line.get_label() for line in lines] == ["a", "b"]
    assert list(lines[0].get_xdata()) == [1, 2, 3]


def test_learning_curves_accepts_a_single_history():
    fig = plots.learning_curves({"val_rmse": [2.0, 1.0], "loss": [1.0, 0.5]})
    (line,) = fig.axes[0].lines
    assert list(line.get_xdata()) == [1, 2] and list(line.get_ydata()) == [2.0, 1.0]


def test_learning_curves_puts_training_beside_validation_and_the_mean_face_line():
    fig = plots.learning_curves({"cnn": {"val_rmse": [5.0, 4.0], "rmse": [6.0, 3.0]}}, training=True,
                                reference=("mean face", 8.5))
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    validation, training, mean = lines["cnn, validation"], lines["cnn, training"], lines["mean face: 8.50"]
    assert list(training.get_ydata()) == [6.0, 3.0] and training.get_linestyle() == "--"
    assert training.get_color() == validation.get_color() and list(mean.get_ydata()) == [8.5, 8.5]


def test_faces_are_drawn_so_pixel_c_covers_c_to_c_plus_one(faces):
    """fkd.keypoints' convention in figures: the image spans [0, 96], so a keypoint at x lands on pixel floor(x)."""
    (image,) = plots.faces_grid(faces[0][:1]).axes[0].images
    assert tuple(image.get_extent()) == (0.0, 96.0, 96.0, 0.0)


def test_learning_curves_without_any_curve_is_an_error():
    with pytest.raises(ValueError, match="val_rmse"):
        plots.learning_curves({"knn": {"loss": [1.0]}})


def test_sweep_chart_draws_a_bar_per_setting_and_highlights_the_lowest():
    fig = plots.sweep_chart({"k=1": 3.1, "k=5": 2.4, "k=9": 2.6}, reference=("nn2", 3.0))
    ax = fig.axes[0]
    bars = _bars(ax)
    assert [bar.get_height() for bar in bars] == pytest.approx([3.1, 2.4, 2.6])
    colours = [bar.get_facecolor() for bar in bars]
    assert colours[1] != colours[0] == colours[2]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["k=1", "k=5", "k=9"]
    assert ax.get_legend() is not None


def test_per_keypoint_chart_groups_bars_by_model():
    errors = {name: float(i) for i, name in enumerate(KEYPOINT_NAMES)}
    fig = plots.per_keypoint_chart({"a": errors, "b": {k: v + 1 for k, v in errors.items()}})
    assert len(_bars(fig.axes[0])) == 2 * len(KEYPOINT_NAMES)
    single = plots.per_keypoint_chart(errors)
    assert len(_bars(single.axes[0])) == len(KEYPOINT_NAMES)


def _left_eye_x(ax) -> float:
    """x of the first 'subject's left' point drawn (the left eye centre comes first)."""
    left_points = _scatters(ax)[0].get_offsets()
    return float(left_points[0][0])


def test_flip_demo_shows_the_left_eye_on_the_wrong_side_only_without_the_swap(faces):
    images, keypoints = faces
    image, points = images[0], keypoints[0]
    mirrored = points.copy()
    mirrored[0::2] = 96 - mirrored[0::2]
    relabelled = mirrored[FLIP_PERMUTATION]
    fig = plots.flip_demo(image, points, image[:, ::-1], relabelled)
    original, unswapped, swapped = fig.axes
    assert "NOT" in unswapped.get_title()
    assert _left_eye_x(unswapped) == pytest.approx(96 - points[0])
    assert _left_eye_x(swapped) == pytest.approx(96 - points[2])  # where the right eye was, mirrored
    assert len(fig.legends[0].get_texts()) == 3


def test_figures_are_made_without_pyplot_state(faces):
    import matplotlib.pyplot as plt

    plt.close("all")
    plots.faces_grid(*faces)
    plots.sweep_chart({"a": 1.0})
    assert plt.get_fignums() == []


def test_mirror_faces_uses_the_training_flip_and_is_its_own_inverse(faces):
    images, keypoints = faces
    mirrored_images, mirrored_points = plots.mirror_faces(images, keypoints)
    assert np.array_equal(mirrored_images, images[:, :, ::-1])
    left, right = KEYPOINT_NAMES.index("left_eye_center"), KEYPOINT_NAMES.index("right_eye_center")
    np.testing.assert_allclose(mirrored_points[:, 2 * left], 96 - keypoints[:, 2 * right], atol=1e-4)
    back_images, back_points = plots.mirror_faces(mirrored_images, mirrored_points)
    assert np.array_equal(back_images, images)
    np.testing.assert_allclose(back_points, keypoints, atol=1e-4)


def test_augment_for_display_returns_uint8_faces_and_moved_keypoints(faces):
    from fkd.configs import Augmentation

    images, keypoints = faces
    shown_images, shown_points = plots.augment_for_display(images, keypoints, Augmentation(shift=0.1), seed=1)
    assert shown_images.dtype == np.uint8 and shown_images.shape == images.shape
    assert np.array_equal(np.isnan(shown_points), np.isnan(keypoints))
    assert not np.allclose(shown_points[:3], keypoints[:3])


def test_accuracy_over_time_draws_each_run_against_its_seconds_and_the_target():
    fig = plots.accuracy_over_time(
        {"modelh_12": ([10.0, 20.0, 30.0], [8.0, 4.0, 2.5]), "best": ([5.0, 9.0], [6.0, 2.0])},
        target=("modelh_12 final", 2.5))
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    assert list(lines["best"].get_xdata()) == [5.0, 9.0] and list(lines["best"].get_ydata()) == [6.0, 2.0]
    assert list(lines["modelh_12 final: 2.50 px"].get_ydata()) == [2.5, 2.5]
    assert ax.get_yscale() == "log"


def test_accuracy_over_time_rejects_mismatched_curves():
    with pytest.raises(ValueError, match="best: 2 times but 3 RMSE values"):
        plots.accuracy_over_time({"best": ([1.0, 2.0], [3.0, 2.0, 1.0])})
    with pytest.raises(ValueError, match="at least one"):
        plots.accuracy_over_time({})


def test_error_scale_draws_one_circle_per_keypoint_and_model_with_the_rmse_as_radius(faces):
    from matplotlib.patches import Circle

    images, keypoints = faces
    fig = plots.error_scale(images[0], keypoints[0], {"mean face": 8.5, "cnn": 2.0})
    circles = [p for p in fig.axes[0].patches if isinstance(p, Circle)]
    assert len(circles) == 2 * len(KEYPOINT_NAMES)
    assert sorted({c.get_radius() for c in circles}) == [2.0, 8.5]
    assert circles[0].center == pytest.approx((keypoints[0][0], keypoints[0][1]))


def test_units_alive_draws_each_run_as_a_percentage_beside_its_error():
    fig = plots.units_alive({"keras2": {"alive": [0.3, 0.28], "val_rmse": [13.0, 6.0]},
                             "keras3": {"alive": [0.02, 0.0], "val_rmse": [14.0, 12.0]},
                             "knn": {"val_rmse": [6.0]}}, reference=("mean face", 8.5))
    alive, error = fig.axes
    assert [line.get_label() for line in alive.lines] == ["keras2", "keras3"]
    assert list(alive.lines[1].get_ydata()) == [2.0, 0.0] and alive.get_ylim()[1] > 100
    assert list(error.lines[0].get_ydata()) == [13.0, 6.0] and error.lines[-1].get_label() == "mean face: 8.50"


def test_units_alive_without_unit_counts_is_an_error():
    with pytest.raises(ValueError, match="alive"):
        plots.units_alive({"knn": {"val_rmse": [6.0]}})


def test_learning_curves_keep_a_first_epoch_far_above_the_mean_face_off_the_axes():
    fig = plots.learning_curves({"cnn": {"val_rmse": [13.0, 6.0, 5.0], "rmse": [97.0, 8.0, 5.5]}}, training=True,
                                reference=("mean face", 8.5))
    assert fig.axes[0].get_ylim() == (0.0, 2.5 * 8.5)
