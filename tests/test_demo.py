"""Tests for fkd.demo: synthetic faces whose keypoints sit on what is drawn, in Kaggle's layout,
with people who differ and frames that vary like a video's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from fkd.data import DEMO_MARKER, Dataset, find_data, load_lookup, load_test, load_training
from fkd.demo import COMPLETE_FRACTION, FRAMES_PER_PERSON, make_faces, write_demo_data
from fkd.splits import near_duplicate_groups
from fkd.keypoints import (
    ALWAYS_PRESENT_COLUMNS, COORDINATE_COLUMNS, IMAGE_SIZE, KEYPOINT_NAMES, mirror_pixels, pixel_centres,
)

KAGGLE_FILES = ("training.csv", "test.csv", "IdLookupTable.csv", "SampleSubmission.csv")


def column(name: str) -> int:
    return COORDINATE_COLUMNS.index(name)


def point(keypoints: np.ndarray, name: str) -> np.ndarray:
    """The (x, y) pixel coordinates of keypoint ``name`` in every row, as an N x 2 array."""
    return keypoints[:, [column(f"{name}_x"), column(f"{name}_y")]]


def pixel_at(images: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The value of each image at its own (x, y) (an N x 2 array): the pixel that covers the point."""
    x, y = np.floor(xy).astype(int).T
    return images[np.arange(len(images)), y, x]


def smoothed(images: np.ndarray) -> np.ndarray:
    """3 x 3 mean filter, so single noisy pixels do not decide a test."""
    padded = np.pad(images.astype(np.float64), ((0, 0), (1, 1), (1, 1)), mode="edge")
    return sum(padded[:, i:i + IMAGE_SIZE, j:j + IMAGE_SIZE] for i in range(3) for j in range(3)) / 9


def rms_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Root-mean-square pixel difference between every image of ``a`` and every image of ``b``."""
    flat_a = a.reshape(len(a), -1).astype(np.float64)
    flat_b = b.reshape(len(b), -1).astype(np.float64)
    squared = (flat_a**2).sum(1)[:, None] + (flat_b**2).sum(1)[None] - 2 * flat_a @ flat_b.T
    return np.sqrt(np.maximum(squared, 0) / flat_a.shape[1])


def standardised(images: np.ndarray) -> np.ndarray:
    """Each image with its mean removed and its spread scaled to one: the camera's exposure taken out."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    flat = (flat - flat.mean(axis=1, keepdims=True)) / flat.std(axis=1, keepdims=True)
    return flat.reshape(images.shape)


def keypoint_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMSE in pixels between matching rows of two keypoint arrays."""
    return np.sqrt(((a - b) ** 2).mean(axis=1))


def darkest_spot_offset(images: np.ndarray, keypoints: np.ndarray, eye: str) -> np.ndarray:
    """Distance from each eye keypoint to the darkest (smoothed) pixel within 4 pixels of it."""
    blurred = smoothed(images)
    offsets = np.empty(len(images))
    for i, (x, y) in enumerate(point(keypoints, eye)):
        x0, y0 = int(np.floor(x)) - 4, int(np.floor(y)) - 4
        window = blurred[i, y0:y0 + 9, x0:x0 + 9]
        row, col = np.unravel_index(np.argmin(window), window.shape)
        offsets[i] = np.hypot(x0 + col + 0.5 - x, y0 + row + 0.5 - y)  # pixel centres at c + 0.5
    return offsets


def pupil_centre(image: np.ndarray, x: float, y: float, radius: float = 3.0) -> tuple[float, float]:
    """Centroid of the darkest pixels within ``radius`` of (x, y), pixel centres at c + 0.5.

    "Darkest": below 70% of the way from the window's darkest pixel to its median,
    weighted by how far below; robust to the demo's noise, blur and lids.
    """
    centres = pixel_centres()
    cx, cy = np.meshgrid(centres, centres)
    near = (cx - x) ** 2 + (cy - y) ** 2 <= radius**2
    values = image.astype(np.float64)
    threshold = values[near].min() + 0.7 * (np.median(values[near]) - values[near].min())
    darkness = np.clip(threshold - values, 0, None) * near
    return float((darkness * cx).sum() / darkness.sum()), float((darkness * cy).sum() / darkness.sum())


@pytest.fixture(scope="module")
def faces() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faces with every feature in view (no occluders), for the tests that look at the features."""
    return make_faces(160, seed=3, occluders=False)


@pytest.fixture(scope="module")
def occluded() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same faces as the demo data has them: with glasses, hands, strands of hair and objects."""
    return make_faces(160, seed=3)


@pytest.fixture(scope="module")
def crowd() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sixty people, ten frames each: enough look-alikes for the grouping to have something to get wrong."""
    return make_faces(600, seed=11)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_data(tmp_path_factory.mktemp("demo"), n_train=120, n_test=30, seed=0)


@pytest.fixture(scope="module")
def training(demo_dir: Path) -> Dataset:
    return load_training(demo_dir)


# --- make_faces ------------------------------------------------------------------------------


def test_same_seed_gives_identical_faces() -> None:
    first, second = make_faces(24, seed=7), make_faces(24, seed=7)
    for a, b in zip(first, second):
        assert a.tobytes() == b.tobytes()


def test_different_seeds_give_different_faces() -> None:
    images_a, keypoints_a, _ = make_faces(24, seed=7)
    images_b, keypoints_b, _ = make_faces(24, seed=8)
    assert images_a.tobytes() != images_b.tobytes()
    assert not np.allclose(keypoints_a, keypoints_b)


def test_arrays_have_kaggle_shapes_and_dtypes(faces) -> None:
    images, keypoints, people = faces
    assert images.shape == (160, IMAGE_SIZE, IMAGE_SIZE) and images.dtype == np.uint8
    assert keypoints.shape == (160, 30) and keypoints.dtype == np.float32
    assert people.shape == (160,) and np.issubdtype(people.dtype, np.integer)
    assert not np.isnan(keypoints).any()


def test_images_use_a_wide_range_of_gray_levels(faces) -> None:
    images = faces[0]
    assert images.min() < 40 and images.max() > 200
    assert (images.std(axis=(1, 2)) > 5).all()  # no blank faces


def test_keypoints_lie_inside_the_image(faces) -> None:
    keypoints = faces[1]
    assert keypoints.min() >= 1.0 and keypoints.max() <= IMAGE_SIZE - 2.0


def test_subjects_left_is_on_the_image_right(faces) -> None:
    keypoints = faces[1]
    for left, right in (
        ("left_eye_center_x", "right_eye_center_x"),
        ("left_eye_outer_corner_x", "left_eye_inner_corner_x"),
        ("right_eye_inner_corner_x", "right_eye_outer_corner_x"),
        ("left_eyebrow_outer_end_x", "left_eyebrow_inner_end_x"),
        ("mouth_left_corner_x", "mouth_right_corner_x"),
    ):
        assert (keypoints[:, column(left)] > keypoints[:, column(right)]).all(), (left, right)


@pytest.mark.parametrize("eye", ["left_eye_center", "right_eye_center"])
def test_pupils_are_much_darker_than_the_cheek(faces, eye: str) -> None:
    images, keypoints, _ = faces
    side = eye.split("_")[0]
    pupil = pixel_at(images.astype(np.float64), point(keypoints, eye))
    cheek_xy = (point(keypoints, eye) + point(keypoints, f"mouth_{side}_corner")) / 2
    # 0.6: a dark face in dim light, its blacks lifted by the camera, still has pupils far darker than skin
    assert (pupil < 0.6 * pixel_at(smoothed(images), cheek_xy)).all()


@pytest.mark.parametrize("eye", ["left_eye_center", "right_eye_center"])
def test_darkest_spot_near_each_eye_is_its_keypoint(faces, eye: str) -> None:
    images, keypoints, _ = faces
    assert (darkest_spot_offset(images, keypoints, eye) <= 1.5).all()


def test_a_mirrored_face_has_its_pupil_on_the_mirrored_label(faces) -> None:
    """fkd.keypoints' one convention: mirroring pixels and labels keeps them together.

    Typically to a tenth of a pixel; a lid over part of a pupil looking up or down moves
    the visible dark spot's centre by up to about half a pixel in a few faces.
    """
    images, keypoints, _ = faces
    left = KEYPOINT_NAMES.index("left_eye_center")
    misses = []
    for image, points in zip(images, keypoints):
        x, y = mirror_pixels(points)[2 * left: 2 * left + 2]
        found_x, found_y = pupil_centre(image[:, ::-1], x, y)
        misses.append((found_x - x, found_y - y))
    dx, dy = np.array(misses).T
    assert np.median(np.hypot(dx, dy)) <= 0.15 and np.percentile(np.hypot(dx, dy), 95) <= 0.4

    # the rule with pixel centres at integers (x -> 95 - x) would put every label a pixel to the right
    assert abs(dx.mean()) <= 0.1




def test_mouth_between_the_lips_is_darker_than_the_cheeks(faces) -> None:
    images, keypoints, _ = faces
    blurred = smoothed(images)
    top, bottom = point(keypoints, "mouth_center_top_lip"), point(keypoints, "mouth_center_bottom_lip")
    mouth_xy = (top + bottom) / 2
    cheeks = [pixel_at(blurred, (point(keypoints, f"{side}_eye_center") + point(keypoints, f"mouth_{side}_corner")) / 2)
              for side in ("left", "right")]
    # the brighter cheek: light from one side can leave the other in shadow
    assert (pixel_at(blurred, mouth_xy) < 0.9 * np.maximum(*cheeks)).all()



def test_each_person_has_several_consecutive_frames(faces) -> None:
    people = faces[2]
    counts = np.bincount(people)
    assert (counts >= 2).all() and abs(counts.mean() - FRAMES_PER_PERSON) <= 1
    assert (np.diff(people) >= 0).all()


def test_occluders_cover_some_faces_and_move_no_keypoint(faces, occluded) -> None:
    clear_images, clear_keypoints, _ = faces
    images, keypoints, _ = occluded
    assert keypoints.tobytes() == clear_keypoints.tobytes()
    changed = (np.abs(images.astype(int) - clear_images.astype(int)) > 40).sum(axis=(1, 2)) > 20
    assert 0.15 <= changed.mean() <= 0.6


@pytest.mark.parametrize("eye", ["left_eye_center", "right_eye_center"])
def test_most_occluded_faces_still_show_their_pupils(occluded, eye: str) -> None:
    images, keypoints, _ = occluded
    assert (darkest_spot_offset(images, keypoints, eye) <= 1.5).mean() >= 0.85


def test_grouping_finds_the_people(crowd) -> None:
    """fkd.splits' grouping (its threshold tuned on real faces) puts each person's frames together."""
    images, _, people = crowd
    assert adjusted_rand_score(people, near_duplicate_groups(images)) >= 0.8


def test_nearest_image_is_a_rough_guess_for_a_seen_person_and_a_poor_one_for_a_new_person(crowd) -> None:
    """Frames of one person look alike but their keypoints differ, as in a video: the nearest image by
    pixels (what k-NN answers with) is off by pixels for a person seen in other frames, and by far more
    for a new person. Demo faces whose frames were near-copies let k-NN beat every network."""
    images, keypoints, people = crowd
    new = people >= people.max() - 9  # the last ten people are never seen
    seen_images, seen_keypoints = images[~new], keypoints[~new]
    within = rms_distances(seen_images, seen_images)
    np.fill_diagonal(within, np.inf)
    seen_error = keypoint_error(seen_keypoints, seen_keypoints[within.argmin(axis=1)])
    new_error = keypoint_error(keypoints[new], seen_keypoints[rms_distances(images[new], seen_images).argmin(axis=1)])
    assert np.median(seen_error) >= 2.5
    assert np.median(new_error) >= 1.4 * np.median(seen_error)


def test_n_people_sets_the_number_of_people() -> None:
    _, _, people = make_faces(30, seed=0, n_people=5)
    assert sorted(set(people.tolist())) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("n_people", [0, 31])
def test_impossible_number_of_people_is_rejected(n_people: int) -> None:
    with pytest.raises(ValueError, match="n_people"):
        make_faces(30, n_people=n_people)


# --- write_demo_data ------------------------------------------------------------------------


def test_written_folder_is_found_as_demo_data(demo_dir: Path) -> None:
    files = find_data(demo_dir)
    assert files.demo
    assert all((demo_dir / name).is_file() for name in KAGGLE_FILES)


def test_training_csv_has_kaggles_missing_label_pattern(training: Dataset) -> None:
    assert len(training) == 120
    present = ~np.isnan(training.keypoints)
    n_full = round(COMPLETE_FRACTION * 120)
    assert abs(training.complete.mean() - COMPLETE_FRACTION) < 0.05
    assert (present[:n_full].sum(axis=1) >= 28).all()  # first batch: a handful of single gaps
    assert not present[:n_full].all()
    later = present[n_full:]
    assert (later[:, ALWAYS_PRESENT_COLUMNS].all()) and later.sum() == 8 * len(later)


def test_written_eye_keypoints_still_mark_the_pupils(training: Dataset) -> None:
    for eye in ("left_eye_center", "right_eye_center"):  # all but the few an occluder hides
        assert (darkest_spot_offset(training.images, training.keypoints, eye) <= 1.5).mean() >= 0.85, eye


def test_test_csv_numbers_images_from_one(demo_dir: Path) -> None:
    test_set = load_test(demo_dir)
    assert test_set.images.shape == (30, IMAGE_SIZE, IMAGE_SIZE)
    assert test_set.image_ids.tolist() == list(range(1, 31))


def test_lookup_asks_for_all_30_or_the_8_always_present_coordinates(demo_dir: Path) -> None:
    lookup = load_lookup(demo_dir / "IdLookupTable.csv")
    requested = lookup.groupby("ImageId")["FeatureName"].apply(tuple)
    always = tuple(COORDINATE_COLUMNS[j] for j in ALWAYS_PRESENT_COLUMNS)
    assert set(requested) == {COORDINATE_COLUMNS, always}
    assert sorted(requested.index) == list(range(1, 31))
    assert len(lookup) == sum(len(features) for features in requested)
    assert lookup["RowId"].tolist() == list(range(1, len(lookup) + 1))


def test_sample_submission_has_one_zero_per_lookup_row(demo_dir: Path) -> None:
    lines = (demo_dir / "SampleSubmission.csv").read_text().splitlines()
    n_lookup = len(load_lookup(demo_dir / "IdLookupTable.csv"))
    assert lines[0] == "RowId,Location"
    assert lines[1:] == [f"{row},0" for row in range(1, n_lookup + 1)]


def test_test_people_do_not_appear_in_training(demo_dir: Path, training: Dataset) -> None:
    train = standardised(training.images)
    test = standardised(load_test(demo_dir).images)
    within = rms_distances(train, train)
    np.fill_diagonal(within, np.inf)
    # every training face has a near duplicate (another frame of its person); test faces do not
    assert np.median(rms_distances(test, train).min(axis=1)) > 1.3 * np.median(within.min(axis=1))



def test_marker_explains_demo_data_and_is_written_last(demo_dir: Path) -> None:
    marker = demo_dir / DEMO_MARKER
    text = marker.read_text()
    assert "synthetic" in text.lower() and "--data" in text and "not comparable" in text.lower()
    newest_data = max((demo_dir / name).stat().st_mtime_ns for name in KAGGLE_FILES)
    assert marker.stat().st_mtime_ns >= newest_data


def test_second_call_with_same_parameters_rewrites_nothing(tmp_path: Path) -> None:
    write_demo_data(tmp_path, n_train=20, n_test=5, seed=0)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert write_demo_data(tmp_path, n_train=20, n_test=5, seed=0) == tmp_path
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def test_other_parameters_rewrite_the_folder(tmp_path: Path) -> None:
    write_demo_data(tmp_path, n_train=20, n_test=5, seed=0)
    first = (tmp_path / "training.csv").read_bytes()
    write_demo_data(tmp_path, n_train=20, n_test=5, seed=1)
    assert (tmp_path / "training.csv").read_bytes() != first
    assert '"seed": 1' in (tmp_path / DEMO_MARKER).read_text()


def test_same_parameters_write_identical_files(tmp_path: Path) -> None:
    write_demo_data(tmp_path / "a", n_train=20, n_test=5, seed=4)
    write_demo_data(tmp_path / "b", n_train=20, n_test=5, seed=4)
    for name in (*KAGGLE_FILES, DEMO_MARKER):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_folder_with_someone_elses_kaggle_files_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "training.csv").write_text("real data\n")
    with pytest.raises(FileExistsError, match="refusing"):
        write_demo_data(tmp_path, n_train=20, n_test=5)
    assert (tmp_path / "training.csv").read_text() == "real data\n"


def test_interrupted_write_is_finished_by_the_next_call(tmp_path: Path, monkeypatch) -> None:
    import fkd.demo

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fkd.demo, "write_test_csv", crash)
    with pytest.raises(KeyboardInterrupt):
        write_demo_data(tmp_path, n_train=20, n_test=5)
    assert (tmp_path / "training.csv").exists() and not (tmp_path / DEMO_MARKER).exists()
    monkeypatch.undo()
    write_demo_data(tmp_path, n_train=20, n_test=5)
    assert find_data(tmp_path).demo and len(load_test(tmp_path)) == 5
