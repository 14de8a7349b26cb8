"""Keypoints on an ordinary photo: find every face, crop it as the training faces are framed, map back.

The training faces are 96 x 96 gray crops, framed square around the face. A photo
is any size, colour or gray, often rotated by an EXIF tag. The steps, one function
each, so a notebook can show every stage:

1. :func:`read_photo` -- decode (JPEG, PNG, ...), honour EXIF orientation, RGB uint8.
2. :func:`detect_faces` -- a face detector's boxes, and for each the square *crop
   box* that frames the face the way the training faces are framed (a fixed,
   measured mapping: :data:`CROP_SIZE`, :data:`CROP_SHIFT`).
3. :func:`crop_faces` -- each crop box resampled to 96 x 96 gray (ITU-R 601 luma).
4. any fkd model predicts 15 keypoints per crop, in crop pixels.
5. :func:`to_photo_coordinates` -- back to photo pixels; :func:`keypoints_frame`
   and :func:`draw_annotated` present them.

:func:`annotate_photo` runs them all and writes the outputs atomically.

Coordinates: pixel column ``c`` covers ``[c, c + 1)`` (see :mod:`fkd.augment`), in
the photo as in the crop. A crop box ``(x, y, size)`` is the continuous square
``[x, x + size] x [y, y + size]``, so crop coordinate ``u`` is photo coordinate
``x + u * size / 96``, exactly; Pillow's ``Image.resize(..., box=...)``
resamples with the same convention.

Detector: MTCNN, from the ``mtcnn`` package (1.0, MIT, maintained). Its three small
networks ship inside the 2.3 MB wheel, so nothing is downloaded at run time; it runs
on TensorFlow, which fkd already needs, and adds only ``lz4`` and ``joblib``; it
gives a confidence per face, and needs a few seconds for a 1600 x 1200 photo on a
busy 2-core CPU. Measured (``benchmarks/photo_framing.py``): it found 98.8 % of 406
faces15 faces pasted at 2x-5x into photo-like canvases, and no false face on the
270 of them without other faces. The
alternatives fall short here: OpenCV 5's wheel no longer ships the Haar cascades,
and other packaged detectors fetch their weights on first use (the RetinaFace
packages) or bring a runtime of their own (MediaPipe). ``mtcnn`` is imported only
when a face is looked for, so ``fkd --help`` stays fast. It misses most of fkd's
synthetic demo faces (cartoons), so a photo of a drawn face may find none.

Bad input (a missing, unreadable, truncated or enormous file, or a photo with no
face) raises :class:`fkd.data.DataError` naming the file.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from fkd.atomic import check_destination, write_all
from fkd.data import DataError
from fkd.keypoints import COORDINATE_COLUMNS, IMAGE_SIZE, KEYPOINT_NAMES

MAX_PIXELS = 50_000_000
"""Larger photos are refused before they are decoded (a decompression bomb, or simply too big)."""

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
"""Image formats read (JPEG includes the MPO variant many phones write). Others, such
as EPS, which Pillow would hand to an external program, are refused."""

DETECT_MAX_SIDE = 1600
"""Faces are looked for on a copy of the photo shrunk to at most this many pixels a
side (MTCNN's time grows with the pixel count); crops are cut from the full photo.
MTCNN finds faces from 20 pixels up on that copy: on a 4000 x 3000 photo, from 50."""

MIN_CONFIDENCE = 0.8
"""Detections less sure than this are dropped. 0.8 is MTCNN's own final threshold: on
faces15 faces enlarged 2x-5x, blurred by the enlargement, a few real faces scored
0.85-0.9, and nothing else scored above 0.8 (benchmarks/photo_framing.py). Raise it
to drop doubtful faces in a busy photo."""

# How a detector box becomes a training-style crop square. With the MTCNN box's
# centre (cx, cy), width w and height h, and r = sqrt(w * h):
#     crop size   = CROP_SIZE * r
#     crop centre = (cx + CROP_SHIFT[0] * r, cy + CROP_SHIFT[1] * r)
# Measured by benchmarks/photo_framing.py: 406 faces15 faces (every 8th row) pasted
# at 2x-5x into 0.2-megapixel photo-like canvases, MTCNN run on each (401 found),
# constants = medians of size / r and centre offset / r (the pasted square is the
# true crop). Held out (2-fold over blocks of people), in crop pixels of the 96
# grid, median / 90th percentile: crop centre off by 4.2 / 7.4, size by 4.5 / 11.8.
# Faces placed twice show that this error belongs to each face's own framing in
# faces15 (its random crop jitter, and pose), not to the detector (whose own noise
# is about 1 crop pixel in the centre, 2 in the size): nothing computed from the
# box can remove it (a least-squares fit that also used MTCNN's five landmarks put
# the keypoints only 0.2 crop pixels closer), and the models learned from crops
# framed with that same jitter. The
# box is about 0.77 times as wide as tall; the crop is a square 1.14 times its
# geometric mean, centred 2% of r right of and below the box centre.
CROP_SIZE = 1.1384
CROP_SHIFT = (0.0201, 0.0235)

N_LANDMARKS = 5
"""MTCNN's landmarks: the eye on the image's left, the other eye, nose, mouth corners (image left, right)."""


class PhotoError(DataError):
    """A photo that cannot be used; ``str()`` reads ``<file>: <what is wrong>``."""


@dataclass(frozen=True)
class FaceBox:
    """One face found in a photo, in photo pixels (continuous coordinates).

    ``x, y, size``: the square crop box ``[x, x + size] x [y, y + size]`` that frames
    the face like a training face. ``detector_box``: the detector's own box
    ``(x, y, width, height)``; ``confidence``: its score (0-1); ``landmarks``: its
    5 x 2 points (:data:`N_LANDMARKS`).
    """

    x: float
    y: float
    size: float
    detector_box: tuple[float, float, float, float]
    confidence: float
    landmarks: tuple[tuple[float, float], ...] = ()

    @classmethod
    def from_detection(
        cls, detector_box: Sequence[float], confidence: float = 1.0,
        landmarks: Sequence[Sequence[float]] = (),
    ) -> FaceBox:
        """The training-style crop box for a detector box ``(x, y, width, height)``."""
        x, y, size = crop_box(detector_box)
        return cls(
            x, y, size, tuple(float(v) for v in detector_box), float(confidence),
            tuple((float(px), float(py)) for px, py in landmarks),
        )


@dataclass
class PhotoResult:
    """What :func:`annotate_photo` found: the photo, its faces, their crops and keypoints.

    ``rgb``: H x W x 3 uint8 (upright); ``boxes``: one :class:`FaceBox` per face,
    left to right; ``crops``: N x 96 x 96 uint8; ``keypoints_96``: N x 30 in crop
    pixels (the model's answer); ``keypoints``: N x 30 in photo pixels.
    """

    source: str
    rgb: np.ndarray
    boxes: list[FaceBox]
    crops: np.ndarray
    keypoints_96: np.ndarray
    keypoints: np.ndarray

    @property
    def table(self) -> pd.DataFrame:
        """One row per face: :func:`keypoints_frame`."""
        return keypoints_frame(self.boxes, self.keypoints)

    def annotated(self) -> Image.Image:
        """The photo with boxes and keypoints drawn: :func:`draw_annotated`."""
        return draw_annotated(self.rgb, self.boxes, self.keypoints)


# --- reading --------------------------------------------------------------------------


def read_photo(path: str | Path) -> np.ndarray:
    """The photo at ``path`` as RGB uint8 H x W x 3, turned upright by its EXIF orientation.

    Gray, palette and 16-bit images become RGB; transparent areas are laid on white.
    Raises :class:`DataError` naming the file when it is missing, not an image,
    unreadable or truncated, or over :data:`MAX_PIXELS` (checked before decoding).
    """
    path = Path(path)
    if not path.exists():
        raise PhotoError("file not found", file=path)
    if path.is_dir():
        raise PhotoError("is a folder, not a photo", file=path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=FORMATS) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise PhotoError(
                        f"the image is {width} x {height} = {width * height / 1e6:.0f} megapixels; "
                        f"photos over {MAX_PIXELS / 1e6:.0f} megapixels are refused",
                        file=path,
                    )
                image.load()
                upright = ImageOps.exif_transpose(image)
                return _to_rgb(upright)
    except PhotoError:
        raise
    except UnidentifiedImageError:
        raise PhotoError(
            f"not an image this program reads (it reads {', '.join(FORMATS)})",
            file=path,
        ) from None
    except PermissionError:
        raise PhotoError("permission denied: this file cannot be read", file=path) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PhotoError(f"refused as too large to decode safely ({error})", file=path) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        # Pillow reports truncated and corrupt data as OSError (SyntaxError / ValueError
        # from some decoders); a folder or unreadable file as OSError too.
        reason = str(error) or type(error).__name__
        if "truncated" in reason:
            reason = "the image data is truncated (an incomplete download or copy?)"
        raise PhotoError(f"cannot read the image: {reason}", file=path) from None


def _to_rgb(image: Image.Image) -> np.ndarray:
    """RGB uint8 from any Pillow mode; alpha is composited over white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit gray: keep the top 8 bits (Pillow's convert would clip at 255 instead).
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max() > 255 else 255.0
        gray = np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


# --- detecting ------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _detector():
    """MTCNN, built once per process (its weights are inside the ``mtcnn`` package)."""
    try:
        from mtcnn import MTCNN
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "finding faces in photos needs the mtcnn package: pip install 'mtcnn>=1.0,<2'"
        ) from error
    return MTCNN(stages="face_and_landmarks_detection")


def detector_boxes(rgb: np.ndarray) -> np.ndarray:
    """Raw detections, float64 N x 15: ``x, y, width, height, confidence``, then 5 landmarks (x, y).

    In photo pixels, unsorted, nothing dropped. The photo is shrunk to at most
    :data:`DETECT_MAX_SIDE` a side for the detector and its answers scaled back.
    """
    rgb = _check_rgb(rgb)
    height, width = rgb.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
    small = rgb
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
    sx, sy = width / small.shape[1], height / small.shape[0]
    found = np.asarray(
        _detector().detect_faces(small, fit_to_image=False, box_format="xyxy", output_type="numpy"),
        dtype=np.float64,
    ).reshape(-1, 16)
    x1, y1, x2, y2, confidence = (found[:, i] for i in range(1, 6))
    marks_x, marks_y = found[:, 6:11] * sx, found[:, 11:16] * sy
    landmarks = np.stack([marks_x, marks_y], axis=2).reshape(len(found), 2 * N_LANDMARKS)
    return np.column_stack([x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy, confidence, landmarks])


def crop_box(detector_box: Sequence[float]) -> tuple[float, float, float]:
    """The training-style square ``(x, y, size)`` for a detector box ``(x, y, width, height)``.

    Uses the measured :data:`CROP_SIZE` and :data:`CROP_SHIFT` (see the comment there).
    """
    x, y, width, height = (float(v) for v in detector_box)
    reference = math.sqrt(max(width, 0.0) * max(height, 0.0))
    size = CROP_SIZE * reference
    centre_x = x + width / 2 + CROP_SHIFT[0] * reference
    centre_y = y + height / 2 + CROP_SHIFT[1] * reference
    return centre_x - size / 2, centre_y - size / 2, size


def detect_faces(rgb: np.ndarray, min_confidence: float = MIN_CONFIDENCE) -> list[FaceBox]:
    """Every face in an RGB uint8 photo, left to right, each with its training-style crop box.

    An empty list when there is none (:func:`annotate_photo` turns that into an error).
    """
    faces = [
        FaceBox.from_detection(row[:4], row[4], row[5:].reshape(N_LANDMARKS, 2))
        for row in detector_boxes(rgb)
        if row[4] >= min_confidence and row[2] > 0 and row[3] > 0
    ]
    return sorted(faces, key=lambda face: (face.x + face.size / 2, face.y))


# --- cropping and mapping back ----------------------------------------------------------


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """uint8 H x W luminance of an RGB photo: ITU-R 601-2 luma (L = 0.299 R + 0.587 G + 0.114 B), as Pillow's "L"."""
    return np.asarray(Image.fromarray(_check_rgb(rgb)).convert("L"))


def crop_faces(rgb: np.ndarray, boxes: Sequence[FaceBox]) -> np.ndarray:
    """Each crop box resampled to 96 x 96 gray: uint8 N x 96 x 96, ready for ``fkd.train.predict``.

    Crop pixel (i, j) shows the photo square ``[x + j s/96, x + (j+1) s/96) x
    [y + i s/96, ...)``; Pillow's antialiased bicubic filter does the resampling.
    Parts of a box outside the photo repeat the photo's edge pixels.
    """
    gray = to_gray(rgb) if np.ndim(rgb) == 3 else np.asarray(rgb, dtype=np.uint8)
    crops = np.empty((len(boxes), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for i, box in enumerate(boxes):
        crops[i] = _crop_square(gray, box.x, box.y, box.size)
    return crops


def _crop_square(gray: np.ndarray, x: float, y: float, size: float) -> np.ndarray:
    """96 x 96 resampling of the square [x, x+size] x [y, y+size] of a gray image."""
    if not size > 0:
        raise ValueError(f"a crop box needs a positive size, got {size}")
    height, width = gray.shape
    # Cut out the box plus the resampling filter's reach (bicubic: 2 source pixels per
    # output pixel when shrinking), padded by edge repetition where it leaves the photo.
    margin = 3 + math.ceil(2 * max(size / IMAGE_SIZE, 1.0))
    left, top = math.floor(x) - margin, math.floor(y) - margin
    right, bottom = math.ceil(x + size) + margin, math.ceil(y + size) + margin
    inside = gray[max(top, 0):max(min(bottom, height), 0), max(left, 0):max(min(right, width), 0)]
    if inside.size == 0:  # the box misses the photo entirely: nothing to show
        return np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    pad = ((max(0, -top), max(0, bottom - height)), (max(0, -left), max(0, right - width)))
    region = np.pad(inside, pad, mode="edge")
    box = (x - left, y - top, x - left + size, y - top + size)
    resized = Image.fromarray(region).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC, box=box)
    return np.asarray(resized)


def _box_arrays(boxes: Sequence[FaceBox]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.array([b.x for b in boxes], np.float64)[:, None]
    y = np.array([b.y for b in boxes], np.float64)[:, None]
    size = np.array([b.size for b in boxes], np.float64)[:, None]
    return x, y, size


def to_photo_coordinates(keypoints_96: np.ndarray, boxes: Sequence[FaceBox]) -> np.ndarray:
    """Crop-pixel keypoints (N x 30, 0-96) to photo pixels: ``x + u * size / 96`` (float64 N x 30)."""
    points = _check_keypoints(keypoints_96, len(boxes))
    x, y, size = _box_arrays(boxes)
    out = np.empty_like(points)
    out[:, 0::2] = x + points[:, 0::2] * size / IMAGE_SIZE
    out[:, 1::2] = y + points[:, 1::2] * size / IMAGE_SIZE
    return out


def to_crop_coordinates(keypoints_px: np.ndarray, boxes: Sequence[FaceBox]) -> np.ndarray:
    """The inverse of :func:`to_photo_coordinates`: photo pixels to crop pixels (float64 N x 30)."""
    points = _check_keypoints(keypoints_px, len(boxes))
    x, y, size = _box_arrays(boxes)
    out = np.empty_like(points)
    out[:, 0::2] = (points[:, 0::2] - x) * IMAGE_SIZE / size
    out[:, 1::2] = (points[:, 1::2] - y) * IMAGE_SIZE / size
    return out


# --- presenting -----------------------------------------------------------------------------


def keypoints_frame(boxes: Sequence[FaceBox], keypoints_px: np.ndarray) -> pd.DataFrame:
    """One row per face: ``face`` (0, 1, ...), ``box_x, box_y, box_size`` (the crop box)
    and the 30 Kaggle columns, all in photo pixels."""
    points = _check_keypoints(keypoints_px, len(boxes))
    frame = pd.DataFrame({
        "face": np.arange(len(boxes), dtype=np.int64),
        "box_x": [b.x for b in boxes],
        "box_y": [b.y for b in boxes],
        "box_size": [b.size for b in boxes],
    })
    coordinates = pd.DataFrame(points, columns=list(COORDINATE_COLUMNS))
    return pd.concat([frame, coordinates], axis=1)


_SIDE_COLOURS = {"left": (255, 145, 0), "right": (41, 121, 255), "middle": (0, 230, 118)}
"""The subject's left (on the image's right), right and midline keypoints, as in :mod:`fkd.plots`."""
_BOX_COLOUR = (255, 214, 0)


def _side(name: str) -> str:
    return "left" if name.startswith("left") else "right" if name.startswith("right") else "middle"


def draw_annotated(rgb: np.ndarray, boxes: Sequence[FaceBox], keypoints_px: np.ndarray) -> Image.Image:
    """The photo (RGB, its own size) with each crop box, face number and keypoint drawn.

    Lines and markers scale with each face, so they read alike on a small face and
    a large one. Colours: the subject's left orange, right blue, midline green.
    """
    image = Image.fromarray(_check_rgb(rgb)).copy()
    points = _check_keypoints(keypoints_px, len(boxes))
    draw = ImageDraw.Draw(image)
    for number, (box, face) in enumerate(zip(boxes, points)):
        unit = box.size / IMAGE_SIZE  # photo pixels per crop pixel
        line = max(1, round(0.8 * unit))
        draw.rectangle((box.x, box.y, box.x + box.size, box.y + box.size), outline=_BOX_COLOUR, width=line)
        font_size = max(12, round(10 * unit))
        draw.text(
            (box.x + 2 * line, box.y + line), str(number), fill=_BOX_COLOUR,
            font=ImageFont.load_default(font_size),  # scalable where Pillow has FreeType
            stroke_width=max(1, font_size // 12), stroke_fill=(0, 0, 0),
        )
        radius = max(2.0, 1.6 * unit)
        for k, name in enumerate(KEYPOINT_NAMES):
            px, py = face[2 * k], face[2 * k + 1]
            if not (np.isfinite(px) and np.isfinite(py)):
                continue
            draw.ellipse(
                (px - radius, py - radius, px + radius, py + radius),
                fill=_SIDE_COLOURS[_side(name)], outline=(0, 0, 0), width=max(1, round(radius / 4)),
            )
    return image


# --- all of it ---------------------------------------------------------------------------------


PredictFn = Callable[[np.ndarray], np.ndarray]


def annotate_photo(
    photo: str | Path | np.ndarray,
    predict_fn: PredictFn,
    out_png: str | Path | None = None,
    keypoints_csv: str | Path | None = None,
    *,
    min_confidence: float = MIN_CONFIDENCE,
) -> PhotoResult:
    """Find every face in ``photo``, predict its keypoints, optionally write the results.

    ``photo``: a file, or an RGB uint8 H x W x 3 array already read (a notebook's).
    ``predict_fn(crops)`` takes uint8 N x 96 x 96 and returns N x 30 keypoints in
    crop pixels, e.g. ``lambda crops: fkd.train.predict(model, config, crops)``.
    ``out_png``: the annotated photo (format from the suffix, e.g. ``.png``);
    ``keypoints_csv``: :func:`keypoints_frame` as CSV. Both are written only once
    everything has succeeded, each through a temporary file renamed into place, so
    a failure leaves no output file at all. Raises :class:`DataError` naming the
    file for a bad photo, a photo with no face, or an output folder that is missing.
    """
    in_memory = isinstance(photo, np.ndarray)
    path = Path("<photo array>" if in_memory else photo)
    outputs = [Path(p) for p in (out_png, keypoints_csv) if p is not None]
    for out in outputs:
        check_destination(out, "output")
    if out_png is not None:
        _image_format(Path(out_png))  # refuse an unknown suffix before the slow part

    rgb = _check_rgb(photo) if in_memory else read_photo(path)
    boxes = detect_faces(rgb, min_confidence=min_confidence)
    if not boxes:
        raise PhotoError(
            "no face found in the photo (faces need to be roughly upright and at least "
            "about 20 pixels tall)",
            file=path,
        )
    crops = crop_faces(rgb, boxes)
    keypoints_96 = np.asarray(predict_fn(crops), dtype=np.float64)
    if keypoints_96.shape != (len(boxes), len(COORDINATE_COLUMNS)):
        raise ValueError(
            f"predict_fn must return {len(boxes)} x {len(COORDINATE_COLUMNS)} keypoints, "
            f"got shape {keypoints_96.shape}"
        )
    result = PhotoResult(str(path), rgb, boxes, crops, keypoints_96, to_photo_coordinates(keypoints_96, boxes))

    payloads: list[tuple[Path, bytes]] = []
    if out_png is not None:
        buffer = io.BytesIO()
        result.annotated().save(buffer, format=_image_format(Path(out_png)))
        payloads.append((Path(out_png), buffer.getvalue()))
    if keypoints_csv is not None:
        text = result.table.to_csv(index=False, float_format="%.3f", lineterminator="\n")
        payloads.append((Path(keypoints_csv), text.encode()))
    write_all(payloads)
    return result


def _image_format(path: Path) -> str:
    known = Image.registered_extensions()
    fmt = known.get(path.suffix.lower())
    if fmt not in ("PNG", "JPEG", "WEBP", "TIFF", "BMP"):
        raise PhotoError("the annotated photo needs a .png, .jpg, .webp, .tif or .bmp name", file=path)
    return fmt


# --- a photo without a camera --------------------------------------------------------------


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth RGB gradient with a little grain: a plain, face-free background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 60 + 120 * (xx / width) + 40 * (yy / height)
    values = np.clip(base + rng.normal(0, 4, size=base.shape), 0, 255).astype(np.uint8)
    return np.stack([values, (values * 0.9).astype(np.uint8), (values * 0.8).astype(np.uint8)], axis=2)


def example_photo(faces: np.ndarray, placements: Sequence[tuple[int, int, int]], width: int,
                  height: int) -> np.ndarray:
    """An RGB "photo" with each gray 96 x 96 face enlarged to ``size`` at ``(x, y)`` on :func:`background`.

    For trying the pipeline without a photo at hand (the summary notebook, tests): a
    dataset face placed in a larger picture, where the truth is known.
    """
    canvas = background(width, height)
    for face, (x, y, size) in zip(faces, placements):
        enlarged = np.asarray(Image.fromarray(face).resize((size, size), Image.Resampling.BICUBIC))
        canvas[y:y + size, x:x + size] = enlarged[:, :, None]
    return canvas


# --- checks ---------------------------------------------------------------------------------


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 photo H x W x 3, got {rgb.dtype} {rgb.shape}")
    return rgb


def _check_keypoints(keypoints: np.ndarray, n_faces: int) -> np.ndarray:
    points = np.asarray(keypoints, dtype=np.float64)
    if points.shape != (n_faces, len(COORDINATE_COLUMNS)):
        raise ValueError(
            f"expected {n_faces} x {len(COORDINATE_COLUMNS)} keypoints (one row per face), got {points.shape}"
        )
    return points
