"""Figures for the notebooks and the report.

Every function builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot``),
so it works under any backend -- Agg in tests and on servers, the inline backend
in Jupyter -- and leaves no global figure state behind. A notebook shows the
returned figure by making it the last expression of a cell.

Coordinates are always in PIXELS (x to the right, y down, as Kaggle's columns), and
faces are drawn with :data:`fkd.keypoints.IMAGE_EXTENT`, so pixel c covers [c, c + 1]
and a keypoint appears exactly where :mod:`fkd.keypoints`' convention puts it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, MaxNLocator

from fkd.keypoints import COORDINATE_COLUMNS, IMAGE_EXTENT, IMAGE_SIZE, KEYPOINT_NAMES

TRUE_STYLE = {"marker": "o", "s": 14, "facecolors": "none", "edgecolors": "#00e676", "linewidths": 1.0}
PRED_STYLE = {"marker": "x", "s": 14, "c": "#ff1744", "linewidths": 1.0}
SIDE_COLOURS = {"left": "#ff9100", "right": "#2979ff", "middle": "#ffffff"}
"""Colours for the subject's left, right and midline keypoints in the flip figure."""
MODEL_COLOURS = ("#ff1744", "#2979ff", "#ffd600", "#00e676", "#d500f9", "#ff9100")


def _xy(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y columns of a 30-vector (or N x 30 array) of pixel coordinates."""
    points = np.asarray(keypoints, dtype=np.float32)
    return points[..., 0::2], points[..., 1::2]


def _check_images(images: np.ndarray, *arrays: np.ndarray | None) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected images of shape N x {IMAGE_SIZE} x {IMAGE_SIZE}, got {images.shape}")
    for array in arrays:
        if array is not None and np.shape(array) != (len(images), len(COORDINATE_COLUMNS)):
            raise ValueError(
                f"expected keypoints of shape {len(images)} x {len(COORDINATE_COLUMNS)} (pixels), "
                f"got {np.shape(array)}"
            )
    return images


def _show_face(ax, image: np.ndarray) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=255 if image.max() > 1 else 1, extent=IMAGE_EXTENT)
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return -(-n // ncols), ncols


def faces_grid(
    images: np.ndarray,
    keypoints: np.ndarray | None = None,
    predicted: np.ndarray | None = None,
    *,
    ncols: int = 4,
    titles: Sequence[str] | None = None,
    labels: tuple[str, str] = ("true", "predicted"),
    title: str | None = None,
    size: float = 2.0,
) -> Figure:
    """Faces with their keypoints: true ones as green rings, predicted ones as red crosses.

    ``images`` uint8 N x 96 x 96; ``keypoints`` / ``predicted`` N x 30 pixels (NaN =
    missing, not drawn). One axes per face.
    """
    images = _check_images(images, keypoints, predicted)
    if len(images) == 0:
        raise ValueError("faces_grid needs at least one face")
    nrows, ncols = _grid(len(images), ncols)
    fig = Figure(figsize=(size * ncols, size * nrows + (0.6 if title else 0.3)), layout="constrained")
    for i, image in enumerate(images):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        _show_face(ax, image)
        if keypoints is not None:
            ax.scatter(*_xy(keypoints[i]), **TRUE_STYLE)
        if predicted is not None:
            ax.scatter(*_xy(predicted[i]), **PRED_STYLE)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    handles = []
    if keypoints is not None:
        handles.append(Line2D([], [], linestyle="", marker="o", markerfacecolor="none",
                              markeredgecolor=TRUE_STYLE["edgecolors"], label=labels[0]))
    if predicted is not None:
        handles.append(Line2D([], [], linestyle="", marker="x", color=PRED_STYLE["c"], label=labels[1]))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def compare_predictions(
    images: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    *,
    title: str | None = None,
    size: float = 1.8,
) -> Figure:
    """The same faces under each model's predictions: one row per model, one column per face.

    Side by side, a model that has learnt where eyes are is easy to tell from one
    that predicts roughly the average face everywhere.
    """
    images = _check_images(images, *predictions.values())
    if not predictions or len(images) == 0:
        raise ValueError("compare_predictions needs at least one face and one model")
    nrows, ncols = len(predictions), len(images)
    fig = Figure(figsize=(size * ncols + 1.2, size * nrows + 0.5), layout="constrained")
    for row, (name, predicted) in enumerate(predictions.items()):
        for col, image in enumerate(images):
            ax = fig.add_subplot(nrows, ncols, row * ncols + col + 1)
            _show_face(ax, image)
            ax.scatter(*_xy(predicted[col]), marker="x", s=14, linewidths=1.0,
                       c=MODEL_COLOURS[row % len(MODEL_COLOURS)])
            if col == 0:
                ax.set_ylabel(name, fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def missing_labels_chart(keypoints: np.ndarray) -> Figure:
    """How many faces carry each keypoint: labelled vs missing, one bar per keypoint.

    Kaggle's data come from two labelling batches -- one with all 15 keypoints and a
    larger one with only 4 -- which shows up here as two bar lengths.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    present = ~np.isnan(keypoints[:, 0::2]) & ~np.isnan(keypoints[:, 1::2])
    labelled = present.sum(axis=0)
    missing = len(keypoints) - labelled
    complete = int(present.all(axis=1).sum())
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    rows = np.arange(len(KEYPOINT_NAMES))
    ax.barh(rows, labelled, color="#2979ff", label="labelled")
    ax.barh(rows, missing, left=labelled, color="#cfd8dc", label="missing")
    ax.set_yticks(rows, KEYPOINT_NAMES, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("faces")
    ax.set_title(f"{len(keypoints)} faces, {complete} with all 15 keypoints")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def mean_face(images: np.ndarray, keypoints: np.ndarray) -> Figure:
    """The average image with the average position of each keypoint (bars: one std).

    A sharp mean face means the faces are centred and scaled alike -- which is why a
    model that predicts the mean keypoints is already a few pixels from the truth.
    """
    images = _check_images(images, keypoints)
    keypoints = np.asarray(keypoints, dtype=np.float32)
    x, y = _xy(keypoints)
    fig = Figure(figsize=(4.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    _show_face(ax, images.astype(np.float32).mean(axis=0) / 255.0)
    ax.errorbar(np.nanmean(x, axis=0), np.nanmean(y, axis=0),
                xerr=np.nanstd(x, axis=0), yerr=np.nanstd(y, axis=0),
                fmt="o", ms=3, color="#ff1744", ecolor="#ffd600", elinewidth=1, capsize=2)
    ax.set_title(f"mean of {len(images)} faces")
    return fig


def keypoint_scatter(keypoints: np.ndarray, *, max_faces: int = 1000, seed: int = 0) -> Figure:
    """Where each keypoint lies across faces: one colour per keypoint on the 96 x 96 frame.

    Tight clouds are easy targets; wide or overlapping ones (eyebrow ends, mouth
    corners) are where models make their largest errors.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if len(keypoints) > max_faces:
        keypoints = keypoints[np.random.default_rng(seed).choice(len(keypoints), max_faces, replace=False)]
    x, y = _xy(keypoints)
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    ax = fig.add_subplot()
    colours = [_tab20(i) for i in range(len(KEYPOINT_NAMES))]
    for k, name in enumerate(KEYPOINT_NAMES):
        ax.scatter(x[:, k], y[:, k], s=3, alpha=0.4, color=colours[k], label=name.replace("_", " "))
    ax.set_xlim(0, IMAGE_SIZE)
    ax.set_ylim(IMAGE_SIZE, 0)
    ax.set_aspect("equal")
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    ax.set_title(f"keypoint positions over {len(keypoints)} faces")
    fig.legend(loc="outside right upper", fontsize=7, markerscale=3)
    return fig


def _tab20(i: int):
    from matplotlib import colormaps

    return colormaps["tab20"](i % 20)


def group_sizes_chart(groups: np.ndarray) -> Figure:
    """How many near-duplicate groups have 1, 2, 3, ... faces (``groups``: one group id per face).

    Groups larger than one are frames of the same person; a random split scatters
    them over train and validation, so the validation faces are not truly new.
    """
    _, sizes = np.unique(np.asarray(groups), return_counts=True)
    values, counts = np.unique(sizes, return_counts=True)
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(values, counts, color="#2979ff")
    ax.set_xlabel("faces in the group")
    ax.set_ylabel("groups")
    ax.set_title(f"{len(groups)} faces in {len(sizes)} groups")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def learning_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]] | Mapping[str, Sequence[float]],
    *,
    metric: str = "val_rmse",
    ylabel: str = "validation RMSE (pixels)",
    log: bool = False,
    training: bool = False,
    reference: tuple[str, float] | None = None,
) -> Figure:
    """``metric`` per epoch for one history or several (``{name: history}``); one line each.

    ``training=True`` also draws each model's training RMSE (``rmse``: on the
    augmented training batches) dashed in the same colour, on the same axes: where
    the two part, the network starts to memorise its training faces. ``reference``:
    an optional ``(label, value)`` dotted line, e.g. the mean face's RMSE -- a curve
    lying on it has not learned yet. Histories without ``metric`` (k-NN) are left out.
    """
    if metric in histories:
        histories = {"": histories}
    curves = {name: list(h[metric]) for name, h in histories.items() if h and h.get(metric)}
    if not curves:
        raise ValueError(f"no history has {metric!r}; keys seen: "
                         f"{sorted({k for h in histories.values() for k in (h or {})})}")
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    for (name, values), colour in zip(curves.items(), MODEL_COLOURS * 10):
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, marker="o" if len(values) < 15 else None, ms=3, color=colour,
                label=(f"{name}, validation" if training else name) or metric)
        if training and histories[name].get("rmse"):
            ax.plot(epochs, histories[name]["rmse"], linestyle="--", color=colour, label=f"{name}, training")
    if reference is not None:
        ax.axhline(reference[1], color="0.4", linestyle=":", linewidth=1, label=f"{reference[0]}: {reference[1]:.2f}")
        if not log:
            # a first epoch far above the mean face (training RMSE of ~100 px) would squash every curve that
            # matters into the bottom of the axes; it runs off the top instead
            ax.set_ylim(0, max(2.5 * reference[1], max(min(v) for v in curves.values()) * 1.1))
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if len(curves) > 1 or next(iter(curves)) or training or reference:
        ax.legend(fontsize=8)
    return fig


def units_alive(
    histories: Mapping[str, Mapping[str, Sequence[float]]], *, reference: tuple[str, float] | None = None
) -> Figure:
    """Two panels per epoch, one line per run: the share of the last hidden layer's units still alive
    (``history["alive"]``, :class:`fkd.train.UnitsAlive`) and the validation RMSE.

    Side by side they show why a network stalls: when the units die, the RMSE
    flattens at the mean face (``reference``: an optional dotted line) and stays there.
    """
    runs = {name: h for name, h in histories.items() if h and h.get("alive") and h.get("val_rmse")}
    if not runs:
        raise ValueError("units_alive needs histories with 'alive' and 'val_rmse' (networks trained by fkd.train)")
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    alive_ax, error_ax = fig.subplots(1, 2)
    for (name, history), colour in zip(runs.items(), MODEL_COLOURS * 10):
        epochs = np.arange(1, len(history["alive"]) + 1)
        alive_ax.plot(epochs, 100 * np.asarray(history["alive"]), marker="o", ms=3, color=colour, label=name)
        error_ax.plot(epochs, history["val_rmse"], marker="o", ms=3, color=colour, label=name)
    alive_ax.set_ylim(0, 105)
    alive_ax.set_ylabel("units alive (% of the last hidden layer)")
    error_ax.set_ylabel("validation RMSE (pixels)")
    if reference is not None:
        error_ax.axhline(reference[1], color="0.4", linestyle=":", linewidth=1,
                         label=f"{reference[0]}: {reference[1]:.2f}")
    for ax in (alive_ax, error_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def sweep_chart(
    results: Mapping[str, float],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "validation RMSE (pixels)",
    reference: tuple[str, float] | None = None,
) -> Figure:
    """One bar per setting (``{name: RMSE}``), the best (lowest) highlighted.

    ``reference``: an optional ``(label, value)`` drawn as a dashed line, e.g. the
    baseline a sweep tries to beat.
    """
    if not results:
        raise ValueError("sweep_chart needs at least one result")
    names = [str(name) for name in results]
    values = np.array([float(v) for v in results.values()])
    best = int(np.nanargmin(values))
    fig = Figure(figsize=(max(4.0, 0.6 * len(names) + 2), 4), layout="constrained")
    ax = fig.add_subplot()
    colours = ["#90a4ae"] * len(names)
    colours[best] = "#00c853"
    bars = ax.bar(range(len(names)), values, color=colours)
    ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=45 if len(names) > 5 else 0,
                  ha="right" if len(names) > 5 else "center", fontsize=8)
    if reference is not None:
        ax.axhline(reference[1], color="#ff1744", linestyle="--", linewidth=1, label=reference[0])
        ax.legend(fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.margins(y=0.15)
    return fig


def per_keypoint_chart(
    per_keypoint: Mapping[str, float] | Mapping[str, Mapping[str, float]],
    *,
    title: str = "",
) -> Figure:
    """RMSE of each keypoint: one bar per keypoint, or a group of bars per keypoint
    when given ``{model: {keypoint: RMSE}}``."""
    first = next(iter(per_keypoint.values()), None)
    models = per_keypoint if isinstance(first, Mapping) else {"": per_keypoint}
    if not models:
        raise ValueError("per_keypoint_chart needs at least one model")
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.add_subplot()
    rows = np.arange(len(KEYPOINT_NAMES))
    height = 0.8 / len(models)
    for m, (name, errors) in enumerate(models.items()):
        values = [np.nan if errors.get(k) is None else float(errors[k]) for k in KEYPOINT_NAMES]
        ax.barh(rows + (m - (len(models) - 1) / 2) * height, values, height=height,
                color=MODEL_COLOURS[m % len(MODEL_COLOURS)], label=name or None)
    ax.set_yticks(rows, KEYPOINT_NAMES, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("RMSE (pixels)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    if len(models) > 1 or next(iter(models)):
        ax.legend(fontsize=8)
    return fig


def _side(name: str) -> str:
    if name.startswith("left_") or name == "mouth_left_corner":
        return "left"
    if name.startswith("right_") or name == "mouth_right_corner":
        return "right"
    return "middle"


def _draw_sides(ax, keypoints: np.ndarray) -> None:
    x, y = _xy(keypoints)
    for side, colour in SIDE_COLOURS.items():
        ks = [k for k, name in enumerate(KEYPOINT_NAMES) if _side(name) == side]
        ax.scatter(x[ks], y[ks], s=22, color=colour, edgecolors="black", linewidths=0.5)


def flip_demo(
    image: np.ndarray,
    keypoints: np.ndarray,
    flipped_image: np.ndarray,
    flipped_keypoints: np.ndarray,
) -> Figure:
    """Why a mirrored face needs its labels swapped, in three panels.

    ``keypoints``: one face's 30 pixel coordinates; ``flipped_*``: the mirrored face
    with its labels already swapped (as :mod:`fkd.augment` makes them). The middle
    panel undoes the swap to show the mistake it prevents: the subject's left eye
    (orange) would be labelled on the wrong side of the face.
    """
    from fkd.keypoints import FLIP_PERMUTATION

    flipped_keypoints = np.asarray(flipped_keypoints, dtype=np.float32)
    panels = (
        ("original", image, keypoints),
        ("mirrored, labels NOT swapped", flipped_image, flipped_keypoints[FLIP_PERMUTATION]),
        ("mirrored, labels swapped", flipped_image, flipped_keypoints),
    )
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    for i, (title, img, points) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        _show_face(ax, np.asarray(img).reshape(IMAGE_SIZE, IMAGE_SIZE))
        _draw_sides(ax, np.asarray(points, dtype=np.float32))
        ax.set_title(title, fontsize=9)
    handles = [
        Line2D([], [], linestyle="", marker="o", markerfacecolor=colour, markeredgecolor="black",
               label=f"subject's {side}" if side != "middle" else "midline")
        for side, colour in SIDE_COLOURS.items()
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)
    return fig


# --- faces prepared for figures with fkd.augment's own code ---------------------------------


def mirror_faces(images: np.ndarray, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror faces left-right with the rule training uses (:func:`fkd.keypoints.mirror_pixels`).

    ``images`` uint8 N x 96 x 96, ``keypoints`` N x 30 pixels -> the mirrored images
    and their relabelled keypoints (pixels): x -> 96 - x, left and right swapped.
    """
    from fkd.keypoints import mirror_pixels

    images = _check_images(images, keypoints)
    return np.ascontiguousarray(images[:, :, ::-1]), mirror_pixels(keypoints)


def augment_for_display(
    images: np.ndarray, keypoints: np.ndarray, augmentation, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """One random draw of ``augmentation`` (a :class:`fkd.configs.Augmentation`) on these faces.

    Runs :func:`fkd.augment.augment_batch`, the function training uses, and converts
    back to uint8 images and pixel keypoints, so a figure shows what the network
    really sees. Imports TensorFlow.
    """
    import tensorflow as tf

    from fkd.augment import augment_batch
    from fkd.keypoints import normalise, to_pixels

    images = _check_images(images, keypoints)
    inputs = tf.constant(images[..., None].astype(np.float32) / 255.0)
    targets = tf.constant(normalise(keypoints))
    out_images, out_targets = augment_batch(inputs, targets, augmentation, tf.constant([seed, 0], tf.int64))
    pixels = np.clip(np.rint(out_images.numpy()[..., 0] * 255.0), 0, 255).astype(np.uint8)
    return pixels, to_pixels(out_targets.numpy())


def accuracy_over_time(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    target: tuple[str, float] | None = None,
    xlabel: str = "training time (seconds)",
) -> Figure:
    """Validation RMSE against training time, one line per run (``{name: (seconds, rmse)}``).

    This is time-to-accuracy drawn: where a curve first crosses ``target`` (a
    ``(label, value)`` dashed line, e.g. the study recipe's final RMSE) is how long
    that recipe needs to be as good. Log-scaled RMSE, so the last tenths of a pixel,
    where recipes differ, stay visible next to the first epochs' 8 px.
    """
    if not curves:
        raise ValueError("accuracy_over_time needs at least one (seconds, rmse) curve")
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    for (name, (seconds, values)), colour in zip(curves.items(), MODEL_COLOURS * 10):
        if len(seconds) != len(values):
            raise ValueError(f"{name}: {len(seconds)} times but {len(values)} RMSE values")
        ax.plot(seconds, values, color=colour, label=name)
    if target is not None:
        label, value = target
        ax.axhline(value, color="0.4", linestyle="--", linewidth=1, label=f"{label}: {value:.2f} px")
    ax.set_yscale("log")
    for axis_formatter in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
        axis_formatter(FormatStrFormatter("%g"))  # 2, 3, 4 px rather than 2 x 10^0
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation RMSE (pixels)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def error_scale(image: np.ndarray, keypoints: np.ndarray, errors: Mapping[str, float]) -> Figure:
    """How big an RMSE is on a face: around each keypoint, one circle per model, its radius the model's RMSE.

    ``image`` one face (96 x 96), ``keypoints`` its 30 pixel coordinates, ``errors``
    ``{label: RMSE in pixels}``. A keypoint's typical miss lies on or inside its circle.
    """
    from matplotlib.patches import Circle

    image = _check_images(np.asarray(image)[None], np.asarray(keypoints, dtype=np.float32)[None])[0]
    fig = Figure(figsize=(4.8, 4.8), layout="constrained")
    ax = fig.add_subplot()
    _show_face(ax, image)
    x, y = _xy(np.asarray(keypoints, dtype=np.float32))
    for (label, radius), colour in zip(errors.items(), MODEL_COLOURS * 3):
        for cx, cy in zip(x, y):
            if np.isfinite(cx) and np.isfinite(cy):
                ax.add_patch(Circle((cx, cy), radius, fill=False, color=colour, linewidth=1))
        ax.plot([], [], color=colour, label=f"{label}: {radius:.2f} px")
    ax.scatter(x, y, s=6, color="white")
    ax.set_xlim(0, IMAGE_SIZE)
    ax.set_ylim(IMAGE_SIZE, 0)
    fig.legend(loc="outside lower center", ncols=min(3, len(errors)), fontsize=8)
    return fig
