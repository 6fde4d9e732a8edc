"""The xlsa17 importer and the feature-dataset format, on the real att_splits.mat files (no Ray).

The real res101.mat files (100-400 MB) are not available, so each test writes a fake one whose image
count and per-split class sets match the real split file, with D=16 instead of 2048 feature dims.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from zsdist.base.errors import DataError
from zsdist.data.features import read_feature_dataset, write_feature_dataset
from zsdist.data.xlsa17 import apply_min_max, fit_min_max, import_xlsa17, load_xlsa17

XLSA17 = Path("/work/shared/xlsa17")
DIM = 16
# name: (images, (trainval, test_seen, test_unseen), attribute dim, classes, seen classes, first class)
REAL = {
    "AWA1": (30475, (19832, 4958, 5685), 85, 50, 40, "antelope"),
    "AWA2": (37322, (23527, 5882, 7913), 85, 50, 40, "antelope"),
    "SUN": (14340, (10320, 2580, 1440), 102, 717, 645, "abbey"),
}
LOCS = ("trainval_loc", "test_seen_loc", "test_unseen_loc")


def fake_features(split_file: dict, classes: int, seen_count: int, rng: np.random.Generator) -> dict:
    """A res101.mat dict (features D x N, 1-based labels N x 1) consistent with the split file's locations."""
    locs = [split_file[name].astype(np.int64).ravel() - 1 for name in LOCS]
    order = rng.permutation(classes)
    seen, unseen = order[:seen_count], order[seen_count:]
    labels = np.zeros(sum(map(len, locs)), np.int64)
    # Cycling through a class list gives every class rows (all seen classes get trainval images).
    labels[locs[0]] = seen[np.arange(len(locs[0])) % len(seen)]
    labels[locs[1]] = rng.choice(seen, len(locs[1]))
    labels[locs[2]] = unseen[np.arange(len(locs[2])) % len(unseen)]
    features = rng.random((DIM, len(labels)), dtype=np.float32)
    features[0, locs[2][0]] = 5.0  # one test row far beyond every trainval value of dim 0
    return {"features": features, "labels": (labels + 1).astype(np.float64)[:, None]}


@pytest.fixture(scope="module", params=sorted(REAL))
def real(request, tmp_path_factory):
    name = request.param
    directory = tmp_path_factory.mktemp("xlsa17") / name  # the directory name is the dataset's default name
    directory.mkdir()
    shutil.copy(XLSA17 / name / "att_splits.mat", directory)
    split_file = scipy.io.loadmat(directory / "att_splits.mat")
    _, _, _, classes, seen, _ = REAL[name]
    res101 = fake_features(split_file, classes, seen, np.random.default_rng(0))
    scipy.io.savemat(directory / "res101.mat", res101)
    return name, directory, split_file, res101


def test_real_split_files_load(real):
    name, directory, split_file, res101 = real
    images, counts, attribute_dim, classes, _, first = REAL[name]
    assert all(split_file[loc].dtype == np.uint16 for loc in LOCS)  # the real files store 1-based uint16
    features, labels, splits, class_names, attributes = load_xlsa17(directory)
    assert features.shape == (images, DIM) and features.dtype == np.float32
    assert [int(np.count_nonzero(splits == s)) for s in ("trainval", "test_seen", "test_unseen")] == list(counts)
    assert attributes.shape == (classes, attribute_dim) and attributes.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(attributes, axis=1), 1.0, rtol=1e-5)
    assert len(class_names) == classes and class_names[0] == first
    np.testing.assert_array_equal(labels, res101["labels"].ravel() - 1)
    np.testing.assert_array_equal(features, res101["features"].T)


def test_real_import_round_trip_and_rerun(real, tmp_path):
    name, directory, _, _ = real
    images, counts, attribute_dim, classes, seen, _ = REAL[name]
    out = import_xlsa17(directory, tmp_path / "out")
    data = read_feature_dataset(out)
    features, labels, splits, class_names, attributes = load_xlsa17(directory)
    trainval = splits == "trainval"
    expected = apply_min_max(features, *fit_min_max(features[trainval]))
    np.testing.assert_array_equal(data.features, expected)
    assert data.features.dtype == np.float32 and data.features.flags.writeable
    np.testing.assert_array_equal(data.labels, labels)
    np.testing.assert_array_equal(data.splits, splits)
    np.testing.assert_array_equal(data.attributes, attributes)
    assert data.class_names == class_names
    assert int(data.seen.sum()) == seen and not data.seen[labels[splits == "test_unseen"]].any()

    # Fitted on trainval only: exactly [0, 1] there, and the planted test value lands above 1.
    np.testing.assert_array_equal(data.features[trainval].min(axis=0), 0.0)
    np.testing.assert_array_equal(data.features[trainval].max(axis=0), 1.0)
    assert data.features[~trainval, 0].max() > 1.0

    description = json.loads((out / "_manifest.json").read_text())
    assert description == data.description
    assert description["counts"] == dict(zip(("trainval", "test_seen", "test_unseen"), counts))
    assert description["rows"] == images
    assert (description["feature_dim"], description["attribute_dim"]) == (DIM, attribute_dim)
    assert (description["seen_classes"], description["unseen_classes"]) == (seen, classes - seen)
    assert description["name"] == name and description["scaling"]["fit_on"] == "trainval"

    before = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    import_xlsa17(directory, out)
    assert {path.name: path.stat().st_mtime_ns for path in out.iterdir()} == before


def test_min_max_is_fitted_on_the_given_rows_and_not_clipped():
    train = np.array([[0.0, 2.0, 7.0], [4.0, 6.0, 7.0], [1.0, 3.0, 7.0]], np.float32)
    lo, hi = fit_min_max(train)
    np.testing.assert_array_equal(apply_min_max(train, lo, hi), [[0, 0, 0], [1, 1, 0], [0.25, 0.25, 0]])
    test = np.array([[8.0, 0.0, 9.0]], np.float32)
    np.testing.assert_array_equal(apply_min_max(test, lo, hi), [[2.0, -0.5, 0.0]])  # constant dim -> 0


def small(directory: Path, *, labels=None, locs=None, drop=None, images=10, att_columns=5) -> Path:
    """A tiny xlsa17 directory: 10 images, classes 1-3 seen (trainval 1-6, test_seen 7-8), 4-5 unseen (9-10)."""
    directory.mkdir(exist_ok=True)
    labels = np.array([1, 2, 3, 1, 2, 3, 1, 2, 4, 5]) if labels is None else np.asarray(labels)
    locs = locs or ([1, 2, 3, 4, 5, 6], [7, 8], [9, 10])
    split_file = {
        "att": np.eye(7, att_columns),
        "allclasses_names": np.array([[np.array([f"class{i}"])] for i in range(5)], dtype=object),
        **{name: np.asarray(loc, np.uint16)[:, None] for name, loc in zip(LOCS, locs)},
    }
    res101 = {"features": np.random.default_rng(1).random((DIM, images)), "labels": labels[:, None]}
    for variable in [drop] if drop else []:
        split_file.pop(variable, None) if variable in split_file else res101.pop(variable)
    scipy.io.savemat(directory / "att_splits.mat", split_file)
    scipy.io.savemat(directory / "res101.mat", res101)
    return directory


def load_error(directory: Path) -> str:
    with pytest.raises(DataError) as error:
        load_xlsa17(directory)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_small_directory_loads(tmp_path):
    features, labels, splits, class_names, attributes = load_xlsa17(small(tmp_path))
    assert labels.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 3, 4] and class_names[4] == "class4"
    assert splits.tolist() == ["trainval"] * 6 + ["test_seen"] * 2 + ["test_unseen"] * 2
    assert features.shape == (10, DIM) and attributes.shape == (5, 7)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"drop": "labels"}, "lacks the variable(s) labels"),
        ({"drop": "test_unseen_loc"}, "lacks the variable(s) test_unseen_loc"),
        ({"images": 11}, "`features` is 16 x 11 but there are 10 labels"),
        ({"labels": [1, 2, 3, 1, 2, 3, 1, 2, 4, 6]}, "labels span 1..6, expected 1..5"),
        ({"att_columns": 4}, "`att` is (7, 4), expected d x 5"),
        ({"locs": ([1, 2, 3, 4, 5, 6], [6, 7, 8], [9, 10])}, "1 images are in more than one and 0 in none"),
        ({"locs": ([1, 2, 3, 4, 5], [7, 8], [9, 10])}, "0 images are in more than one and 1 in none"),
        ({"locs": ([1, 2, 3, 4, 5, 6], [7, 8], [9, 11])}, "`test_unseen_loc` spans 9..11, outside 1..10"),
        # 0 in uint16 minus 1 would wrap to 65535 (a gap and a silent bad index); as int64 it is -1.
        ({"locs": ([0, 2, 3, 4, 5, 6], [7, 8], [9, 10])}, "`trainval_loc` spans 0..6, outside 1..10"),
        ({"labels": [1, 2, 3, 1, 2, 4, 1, 2, 4, 5]}, "test_unseen class 'class3' also has trainval images"),
        ({"labels": [1, 2, 3, 1, 2, 3, 1, 4, 4, 5]}, "test_seen class 'class3' has no trainval images"),
    ],
)
def test_inconsistent_files_are_one_line_errors(tmp_path, kwargs, expected):
    assert expected in load_error(small(tmp_path, **kwargs))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing"])
def test_unreadable_mat_files(tmp_path, damage):
    path = small(tmp_path) / "res101.mat"
    data = path.read_bytes()
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(b"not a MAT file at all " * 20 if damage == "garbage" else data[: len(data) // 2])
    message = load_error(tmp_path)
    assert str(path) in message and ("is missing" if damage == "missing" else "not a readable MAT file") in message


def written(tmp_path: Path, rows_per_shard: int = 4) -> Path:
    return write_feature_dataset(
        tmp_path / "out",
        name="small",
        features=np.arange(30, dtype=np.float32).reshape(10, 3),
        labels=np.array([0, 1, 2, 0, 1, 2, 0, 1, 3, 4]),
        splits=np.array(["trainval"] * 6 + ["test_seen"] * 2 + ["test_unseen"] * 2),
        class_names=[f"class{i}" for i in range(5)],
        attributes=np.eye(5, 2),
        source="test",
        scaling={"method": "none"},
        rows_per_shard=rows_per_shard,
    )


def read_error(out: Path) -> str:
    with pytest.raises(DataError) as error:
        read_feature_dataset(out)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_shards_are_split_and_rewritten_without_stale_files(tmp_path):
    out = written(tmp_path)
    assert sorted(path.name for path in out.glob("shard-*")) == [f"shard-0000{i}-of-00003.parquet" for i in range(3)]
    written(tmp_path, rows_per_shard=100)
    assert [path.name for path in out.glob("shard-*")] == ["shard-00000-of-00001.parquet"]
    data = read_feature_dataset(out)
    assert data.split_rows("test_unseen")[1].tolist() == [3, 4] and data.seen.tolist() == [1, 1, 1, 0, 0]


@pytest.mark.parametrize("same_size", [True, False])
def test_corrupt_shard_is_a_one_line_error_naming_it(tmp_path, same_size):
    shard = written(tmp_path) / "shard-00001-of-00003.parquet"
    shard.write_bytes(b"x" * (shard.stat().st_size if same_size else 10))
    message = read_error(tmp_path / "out")
    assert str(shard) in message and "regenerate" in message


def test_missing_shard_manifest_and_wrong_counts(tmp_path):
    out = written(tmp_path)
    manifest = json.loads((out / "_manifest.json").read_text())
    (out / "_manifest.json").write_text(json.dumps({**manifest, "counts": {**manifest["counts"], "trainval": 7}}))
    assert "split counts" in read_error(out)
    (out / "shard-00002-of-00003.parquet").unlink()
    assert "shard-00002-of-00003.parquet is missing" in read_error(out)
    (out / "_manifest.json").unlink()
    assert "no _manifest.json" in read_error(out)


def test_foreign_parquet_file_is_not_overwritten(tmp_path):
    out = written(tmp_path)
    (out / "shard-00000-of-00003.parquet").write_bytes(b"someone else's file")
    (out / "_manifest.json").unlink()
    with pytest.raises(DataError, match="is not part of a feature dataset"):
        written(tmp_path)
