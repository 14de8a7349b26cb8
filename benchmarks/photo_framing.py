"""Measure how a face detector's box maps to the framing of the training faces.

The training faces (faces15, like Kaggle's) are 96 x 96 crops framed square around
the face. On a photo, :mod:`fkd.photo` frames each face from the detector's box
with two constants, ``CROP_SIZE`` and ``CROP_SHIFT`` (crop size and crop-centre
offset relative to the box). This script measures them, and how well they work:

1. take faces from faces15 (every ``--every``-th row, about 400);
2. enlarge each (2x-5x, log-uniform) and paste it at a random place in a larger
   canvas whose background is photo-like: blurred noise, a gradient with grain,
   or noise with a few other (smaller) faces well away from it;
3. run the detector (``fkd.photo.detector_boxes``, the code path photos take) and
   keep the detection that overlaps the pasted face most (IoU >= 0.3 counts as
   found); the pasted square is the true crop box;
4. fit the constants (medians, robust to the odd poor box), by 2-fold
   cross-validation over blocks of 100 rows (about ten people; frames of one
   person stay in one fold), and report the errors on the held-out fold, in crop
   pixels of the 96 grid: crop-centre distance, crop-size difference, and the
   RMSE by which the framing error alone moves the true keypoints;
5. report the same for the constants currently in ``fkd/photo.py``, and the
   constants fitted on all faces (to copy there);
6. place every 4th face a second time (other scale, position, background) to
   tell the detector's own noise (differs between the two placements) from the
   face's own framing in faces15 (its random crop jitter and pose: repeats, and
   no mapping from the detector box can predict it).

Usage::

    python benchmarks/photo_framing.py [--data ../shared/data/faces15] [--every 8] [--out benchmarks/results]

Writes ``<out>/photo_framing.json`` (atomically) and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from fkd import photo
from fkd.data import atomic_write_text, load_training
from fkd.keypoints import IMAGE_SIZE
from fkd.results import versions

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "faces15"
BACKGROUNDS = ("noise", "gradient", "faces")
REPEAT_EVERY = 4
"""Every 4th found face is placed a second time, to separate detector noise from the face's own framing."""
MAX_CANVAS = photo.DETECT_MAX_SIDE
"""Canvases stay within the detector's working size, so boxes are not rescaled."""


# --- canvases ------------------------------------------------------------------------------


def background(rng: np.random.Generator, kind: str, width: int, height: int) -> np.ndarray:
    """A photo-like gray background, uint8 height x width."""
    if kind == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        ramp = (np.cos(angle) * xx + np.sin(angle) * yy) / max(width, height)
        low, high = sorted(rng.uniform(20, 235, size=2))
        values = low + (high - low) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    else:  # blurred noise: large soft blobs like an out-of-focus scene
        coarse = rng.normal(128, 45, size=(max(2, height // 48), max(2, width // 48)))
        blobs = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8)).resize((width, height), Image.Resampling.BICUBIC)
        values = np.asarray(blobs.filter(ImageFilter.GaussianBlur(6)), np.float32)
    grain = rng.normal(0, 5, size=(height, width))
    return np.clip(values + grain, 0, 255).astype(np.uint8)


def paste(canvas: np.ndarray, face: np.ndarray, x0: int, y0: int, size: int) -> None:
    canvas[y0:y0 + size, x0:x0 + size] = np.asarray(
        Image.fromarray(face).resize((size, size), Image.Resampling.BICUBIC)
    )


def overlaps(a: tuple[int, int, int], b: tuple[int, int, int], margin: int) -> bool:
    (ax, ay, asz), (bx, by, bsz) = a, b
    return not (ax + asz + margin <= bx or bx + bsz + margin <= ax or ay + asz + margin <= by or by + bsz + margin <= ay)


def make_canvas(
    rng: np.random.Generator, faces: np.ndarray, index: int, scale: float, kind: str
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """An RGB canvas with face ``index`` pasted at ``scale``; its true crop box (x, y, size)."""
    size = round(IMAGE_SIZE * scale)
    room = 2.2 if kind == "faces" else 1.5
    width = int(min(MAX_CANVAS, max(480, rng.uniform(1.2, room) * size + 64)))
    height = int(min(MAX_CANVAS, max(400, rng.uniform(1.1, room * 0.85) * size + 48)))
    width, height = max(width, size + 8), max(height, size + 8)
    canvas = background(rng, kind, width, height)
    x0, y0 = int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
    target = (x0, y0, size)
    if kind == "faces":  # two or three other people, smaller, well away from the target
        placed: list[tuple[int, int, int]] = []
        for _ in range(40):
            if len(placed) == 3:
                break
            other_size = round(IMAGE_SIZE * rng.uniform(0.9, 1.6))
            if other_size + 2 > min(width, height):
                continue
            box = (int(rng.integers(0, width - other_size + 1)), int(rng.integers(0, height - other_size + 1)), other_size)
            if overlaps(box, target, margin=size // 3) or any(overlaps(box, p, 8) for p in placed):
                continue
            other = int(rng.integers(0, len(faces)))
            if abs(other - index) < 30:  # not a frame of the same person
                continue
            paste(canvas, faces[other], *box)
            placed.append(box)
    paste(canvas, faces[index], *target)
    return np.repeat(canvas[:, :, None], 3, axis=2), target


def iou(a: np.ndarray, b: tuple[float, float, float, float]) -> np.ndarray:
    """IoU of boxes ``a`` (N x 4, x y w h) with box ``b``."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    iw = np.clip(np.minimum(ax2, b[0] + b[2]) - np.maximum(a[:, 0], b[0]), 0, None)
    ih = np.clip(np.minimum(ay2, b[1] + b[3]) - np.maximum(a[:, 1], b[1]), 0, None)
    inter = iw * ih
    return inter / (a[:, 2] * a[:, 3] + b[2] * b[3] - inter)


# --- fitting and scoring ---------------------------------------------------------------------------


def fit(boxes: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Medians of crop size and centre offset relative to r = sqrt(box width x height)."""
    x, y, w, h = boxes.T
    r = np.sqrt(w * h)
    tx, ty, ts = truth.T
    return {
        "crop_size": float(np.exp(np.median(np.log(ts / r)))),
        "shift_x": float(np.median((tx + ts / 2 - (x + w / 2)) / r)),
        "shift_y": float(np.median((ty + ts / 2 - (y + h / 2)) / r)),
    }


def predict_crops(boxes: np.ndarray, constants: dict[str, float]) -> np.ndarray:
    x, y, w, h = boxes.T
    r = np.sqrt(w * h)
    size = constants["crop_size"] * r
    cx = x + w / 2 + constants["shift_x"] * r
    cy = y + h / 2 + constants["shift_y"] * r
    return np.column_stack([cx - size / 2, cy - size / 2, size])


def errors(predicted: np.ndarray, truth: np.ndarray, keypoints: np.ndarray) -> dict[str, np.ndarray]:
    """Per face, in crop pixels (96 grid): centre distance, |size difference|, keypoint shift RMSE.

    The last is how far the true keypoints move in the crop when the face is framed by
    ``predicted`` instead of the true box: what a perfect model would lose to framing.
    """
    per_pixel = IMAGE_SIZE / truth[:, 2]
    centre = np.hypot(
        predicted[:, 0] + predicted[:, 2] / 2 - truth[:, 0] - truth[:, 2] / 2,
        predicted[:, 1] + predicted[:, 2] / 2 - truth[:, 1] - truth[:, 2] / 2,
    ) * per_pixel
    size = np.abs(predicted[:, 2] - truth[:, 2]) * per_pixel
    # true keypoints in photo pixels, then in the predicted crop's 96 grid
    px = truth[:, 0:1] + keypoints[:, 0::2] * truth[:, 2:3] / IMAGE_SIZE
    py = truth[:, 1:2] + keypoints[:, 1::2] * truth[:, 2:3] / IMAGE_SIZE
    ux = (px - predicted[:, 0:1]) * IMAGE_SIZE / predicted[:, 2:3]
    uy = (py - predicted[:, 1:2]) * IMAGE_SIZE / predicted[:, 2:3]
    moved = np.sqrt(np.nanmean((ux - keypoints[:, 0::2]) ** 2 + (uy - keypoints[:, 1::2]) ** 2, axis=1) / 2)
    return {"centre": centre, "size": size, "keypoint_rmse": moved}


def summary(errs: dict[str, np.ndarray]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, values in errs.items():
        out[f"{name}_median"] = round(float(np.median(values)), 2)
        out[f"{name}_p90"] = round(float(np.percentile(values, 90)), 2)
    return out


def offsets(boxes: np.ndarray, truth: np.ndarray, constants: dict[str, float]) -> np.ndarray:
    """Signed framing errors in crop pixels: centre x, centre y, and 96 x log(size ratio)."""
    p = predict_crops(boxes, constants)
    per_pixel = IMAGE_SIZE / truth[:, 2]
    return np.column_stack([
        (p[:, 0] + p[:, 2] / 2 - truth[:, 0] - truth[:, 2] / 2) * per_pixel,
        (p[:, 1] + p[:, 2] / 2 - truth[:, 1] - truth[:, 2] / 2) * per_pixel,
        IMAGE_SIZE * np.log(p[:, 2] / truth[:, 2]),
    ])


def repeatability(
    images: np.ndarray, rows: np.ndarray, boxes: np.ndarray, truth: np.ndarray,
    constants: dict[str, float], seed: int,
) -> dict[str, Any]:
    """Second placements of ``rows``: per-axis SD of the framing error across faces, and
    the SD of the detector's own noise (difference between two placements of one face / sqrt 2)."""
    rng = np.random.default_rng(seed + 1)
    first, second = [], []
    for row, box, target in zip(rows, boxes, truth):
        scale = float(np.exp(rng.uniform(np.log(2.0), np.log(5.0))))
        canvas, again = make_canvas(rng, images, int(row), scale, BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))])
        detections = photo.detector_boxes(canvas)
        if not len(detections):
            continue
        overlap = iou(detections[:, :4], (*again, again[2]))
        best = int(np.argmax(overlap))
        if overlap[best] < 0.3:
            continue
        first.append(offsets(box[None], target[None], constants)[0])
        second.append(offsets(detections[best:best + 1, :4], np.array([again], np.float64), constants)[0])
    a, b = np.array(first), np.array(second)
    names = ("centre_x", "centre_y", "size")
    return {
        "faces": len(a),
        "sd_across_faces": {n: round(float(v), 2) for n, v in zip(names, a.std(0))},
        "sd_detector_noise": {n: round(float(v), 2) for n, v in zip(names, (a - b).std(0) / np.sqrt(2))},
        "correlation_between_placements": {
            n: round(float(np.corrcoef(a[:, i], b[:, i])[0, 1]), 3) for i, n in enumerate(names)
        },
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# --- main ---------------------------------------------------------------------------------------


def measure(data: Path, every: int, seed: int) -> dict[str, Any]:
    dataset = load_training(data)
    rows = np.arange(0, len(dataset), every)
    rng = np.random.default_rng(seed)
    scales = np.exp(rng.uniform(np.log(2.0), np.log(5.0), size=len(rows)))
    kinds = [BACKGROUNDS[i % len(BACKGROUNDS)] for i in range(len(rows))]

    photo.detector_boxes(np.zeros((64, 64, 3), np.uint8))  # build the detector outside the timing
    found, boxes, truth, confidences, seconds, pixels, others = [], [], [], [], [], [], 0
    detections_kept = []
    start = time.perf_counter()
    for n, (row, scale, kind) in enumerate(zip(rows, scales, kinds)):
        canvas, target = make_canvas(rng, dataset.images, int(row), float(scale), kind)
        tick = time.perf_counter()
        detections = photo.detector_boxes(canvas)
        seconds.append(time.perf_counter() - tick)
        pixels.append(canvas.shape[0] * canvas.shape[1])
        overlap = iou(detections[:, :4], (*target, target[2])) if len(detections) else np.zeros(0)
        best = int(np.argmax(overlap)) if len(overlap) else -1
        hit = best >= 0 and overlap[best] >= 0.3
        found.append(hit)
        if hit:
            boxes.append(detections[best, :4])
            detections_kept.append(detections[best])
            confidences.append(detections[best, 4])
            truth.append(target)
        if kind != "faces":  # backgrounds without other faces: anything else found is a false face
            others += int(np.sum(overlap < 0.1)) if len(overlap) else 0
        if (n + 1) % 50 == 0:
            print(f"  {n + 1}/{len(rows)} canvases, {np.mean(found):.1%} found, {time.perf_counter() - start:.0f} s", flush=True)

    found = np.array(found)
    boxes, truth = np.array(boxes), np.array(truth, np.float64)
    keypoints = dataset.keypoints[rows[found]].astype(np.float64)
    folds = (rows[found] // 100) % 2

    held_out = np.empty((len(boxes), 3))
    for fold in (0, 1):
        constants = fit(boxes[folds != fold], truth[folds != fold])
        held_out[folds == fold] = predict_crops(boxes[folds == fold], constants)
    current = {"crop_size": photo.CROP_SIZE, "shift_x": photo.CROP_SHIFT[0], "shift_y": photo.CROP_SHIFT[1]}
    fitted = fit(boxes, truth)
    raw = {"rows": rows[found], "detections": np.array(detections_kept), "truth": truth, "keypoints": keypoints}
    # Is what is left the detector's noise or the face's own framing? Place every
    # REPEAT_EVERY-th face a second time (another scale, position and background):
    # an error that repeats belongs to the face (faces15's random crop jitter, pose),
    # which no mapping from the box can predict; one that does not is detector noise.
    repeat = repeatability(dataset.images, rows[found][::REPEAT_EVERY], boxes[::REPEAT_EVERY],
                           truth[::REPEAT_EVERY], fitted, seed)
    return raw, {
        "data": str(data),
        "faces": int(len(rows)),
        "every": every,
        "seed": seed,
        "scales": [2.0, 5.0],
        "backgrounds": list(BACKGROUNDS),
        "detection_rate": round(float(found.mean()), 4),
        "detection_rate_by_background": {
            kind: round(float(found[[k == kind for k in kinds]].mean()), 4) for kind in BACKGROUNDS
        },
        "false_faces_on_plain_backgrounds": others,
        "min_confidence": photo.MIN_CONFIDENCE,
        "detection_rate_at_min_confidence": round(float(np.sum(np.array(confidences) >= photo.MIN_CONFIDENCE) / len(rows)), 4),
        "confidence_min": round(float(np.min(confidences)), 4) if confidences else None,
        "confidence_p10": round(float(np.percentile(confidences, 10)), 4) if confidences else None,
        "held_out": summary(errors(held_out, truth, keypoints)),
        "in_fkd_photo": {"constants": current, **summary(errors(predict_crops(boxes, current), truth, keypoints))},
        "fitted_on_all": {k: round(v, 4) for k, v in fitted.items()},
        "fitted_on_all_errors": summary(errors(predict_crops(boxes, fitted), truth, keypoints)),
        "repeatability": repeat,
        "detector_seconds_median": round(float(np.median(seconds)), 3),
        "canvas_megapixels_median": round(float(np.median(pixels)) / 1e6, 2),
        "machine": {"cpu_model": cpu_model(), "logical_cores": os.cpu_count(),
                    "load_average": [round(v, 2) for v in os.getloadavg()]},
        "versions": {**versions(), "mtcnn": _version("mtcnn"), "pillow": _version("pillow")},
    }


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def report(results: dict[str, Any]) -> str:
    held, cur, fit_all = results["held_out"], results["in_fkd_photo"], results["fitted_on_all"]
    rep = results["repeatability"]

    def line(name: str, s: dict[str, float]) -> str:
        return (f"{name:<34} centre {s['centre_median']:5.2f} / {s['centre_p90']:5.2f}   "
                f"size {s['size_median']:5.2f} / {s['size_p90']:5.2f}   "
                f"keypoints moved (RMSE) {s['keypoint_rmse_median']:5.2f} / {s['keypoint_rmse_p90']:5.2f}")

    return "\n".join([
        f"Framing of {results['faces']} faces15 faces pasted at 2x-5x into photo-like canvases "
        f"({', '.join(results['backgrounds'])})",
        f"detection rate {results['detection_rate']:.1%} "
        f"({', '.join(f'{k} {v:.1%}' for k, v in results['detection_rate_by_background'].items())}); "
        f"{results['detection_rate_at_min_confidence']:.1%} at fkd.photo's MIN_CONFIDENCE {results['min_confidence']}; "
        f"false faces on plain backgrounds: {results['false_faces_on_plain_backgrounds']}; "
        f"confidence of found faces: min {results['confidence_min']}, 10th percentile {results['confidence_p10']}",
        "errors in crop pixels of the 96 grid, median / 90th percentile:",
        line("held out (2-fold, blocks of people)", held),
        line("constants in fkd/photo.py", cur) + f"   {cur['constants']}",
        f"fitted on all faces (copy to fkd/photo.py): CROP_SIZE = {fit_all['crop_size']}, "
        f"CROP_SHIFT = ({fit_all['shift_x']}, {fit_all['shift_y']})",
        f"repeatability ({rep['faces']} faces placed twice): framing-error SD across faces "
        f"{_axes(rep['sd_across_faces'])}; detector noise SD {_axes(rep['sd_detector_noise'])}; "
        f"correlation between the two placements {_axes(rep['correlation_between_placements'])} "
        "-- what is left belongs to each face's own framing in faces15, not to the detector",
        f"detector {results['detector_seconds_median']} s per canvas (median, "
        f"{results['canvas_megapixels_median']} megapixels) on {results['machine']['cpu_model']}, "
        f"{results['machine']['logical_cores']} cores, load {results['machine']['load_average']}; "
        f"{results['seconds_total']:.0f} s in all",
    ])


def _axes(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="faces15 (or Kaggle) folder")
    parser.add_argument("--every", type=int, default=8, help="use every N-th training row (default 8: ~400 faces)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    raw, results = measure(args.data, args.every, args.seed)
    results["seconds_total"] = round(time.perf_counter() - start, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "photo_framing.json", json.dumps(results, indent=2) + "\n")
    np.savez(args.out / "photo_framing_raw.npz", **raw)  # the matched detections, for further analysis
    print(report(results))
    print(f"wrote {args.out / 'photo_framing.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
