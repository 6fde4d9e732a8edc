"""Import the xlsa17 "Proposed Split" benchmarks (Xian et al., TPAMI 2018) into the feature-dataset format.

A dataset directory (e.g. xlsa17/data/AWA2) holds `res101.mat` (`features` D x N, `labels` N x 1,
1-based) and `att_splits.mat` (`att` d x C with L2-normalised columns, `allclasses_names` C x 1, and
1-based `trainval_loc`, `test_seen_loc`, `test_unseen_loc`, stored as uint16 in the real files).
Every inconsistency becomes a one-line DataError before anything is written.

Features are min-max scaled per dimension with bounds fitted on trainval rows only and applied to all
rows without clipping: test rows may fall outside [0, 1]. That is the non-transductive choice (test
images must not influence preprocessing), as in the official CADA-VAE code since its 2020 fix.
`att` is used as stored (already L2-normalised), `original_att` is ignored.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from zsdist.base.errors import DataError
from zsdist.data.features import SPLITS, write_feature_dataset

FEATURES_FILE = "res101.mat"
SPLITS_FILE = "att_splits.mat"
LOCATIONS = {split: f"{split}_loc" for split in SPLITS}


def load_xlsa17(dataset_dir: Path | str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray]:
    """features (N, D) float32, labels (N,) 0-based, splits (N,) str, class names, attributes (C, d) float32."""
    dataset_dir = Path(dataset_dir)
    # The small split file first: a wrong directory fails before the large features file is read.
    splits_mat = _load_mat(dataset_dir / SPLITS_FILE, ["att", "allclasses_names", *LOCATIONS.values()])
    mat = _load_mat(dataset_dir / FEATURES_FILE, ["features", "labels"])
    features_path, splits_path = dataset_dir / FEATURES_FILE, dataset_dir / SPLITS_FILE

    raw = mat["features"]
    if raw.ndim != 2 or raw.size == 0 or not np.issubdtype(raw.dtype, np.number):
        raise DataError(f"{features_path}: `features` is {raw.dtype} {raw.shape}, expected a numeric D x N matrix")
    labels = _integers(mat["labels"], "labels", features_path)
    if raw.shape[1] != len(labels):
        raise DataError(
            f"{features_path}: `features` is {raw.shape[0]} x {raw.shape[1]} but there are {len(labels)} labels"
        )
    features = np.ascontiguousarray(raw.T, dtype=np.float32)
    if not np.isfinite(features).all():
        raise DataError(f"{features_path}: `features` holds NaN or infinite values: re-extract the features")

    class_names = _class_names(splits_mat["allclasses_names"], splits_path)
    att = splits_mat["att"]
    if att.ndim != 2 or att.shape[1] != len(class_names):
        raise DataError(f"{splits_path}: `att` is {att.shape}, expected d x {len(class_names)} (one column per class)")
    if labels.min() < 1 or labels.max() > len(class_names):
        raise DataError(
            f"{features_path}: labels span {labels.min()}..{labels.max()}, expected 1..{len(class_names)}: "
            f"is {splits_path.name} from the same benchmark?"
        )
    labels -= 1

    splits = _splits(splits_mat, len(labels), splits_path)
    trainval = set(np.unique(labels[splits == "trainval"]).tolist())
    for split, wrong, what in [
        ("test_unseen", set(labels[splits == "test_unseen"].tolist()) & trainval, "also has trainval images"),
        ("test_seen", set(labels[splits == "test_seen"].tolist()) - trainval, "has no trainval images"),
    ]:
        if wrong:
            raise DataError(
                f"{splits_path}: {split} class {class_names[min(wrong)]!r} {what} ({len(wrong)} such classes): "
                f"the split file does not match {features_path.name}"
            )
    return features, labels, splits, class_names, np.ascontiguousarray(att.T, dtype=np.float32)


def fit_min_max(features_trainval: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension minimum and maximum (float32) of the training rows."""
    if len(features_trainval) == 0:
        raise DataError("cannot fit min-max scaling on zero trainval rows")
    return features_trainval.min(axis=0).astype(np.float32), features_trainval.max(axis=0).astype(np.float32)


def apply_min_max(features: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(x - lo) / (hi - lo) per dimension, unclipped; dimensions with hi == lo map to 0."""
    span = hi - lo
    scaled = np.subtract(features, lo, dtype=np.float32)
    # In float32 x == hi gives exactly 1 (the same difference divided by itself), x == lo exactly 0.
    np.divide(scaled, span, out=scaled, where=span != 0)
    scaled[:, span == 0] = 0.0
    return scaled


def import_xlsa17(dataset_dir: Path | str, out_dir: Path | str, *, name: str | None = None) -> Path:
    """Load an xlsa17 dataset, scale its features (fitted on trainval) and write it as a feature dataset."""
    dataset_dir = Path(dataset_dir)
    features, labels, splits, class_names, attributes = load_xlsa17(dataset_dir)
    lo, hi = fit_min_max(features[splits == "trainval"])
    scaled = apply_min_max(features, lo, hi)
    scaling = {
        "method": "min-max per feature dimension",
        "fit_on": "trainval",
        "clipped": False,  # test rows may lie outside [0, 1]
        "constant_dims": int(np.count_nonzero(hi == lo)),
        "lo_range": [float(lo.min()), float(lo.max())],
        "hi_range": [float(hi.min()), float(hi.max())],
        "attributes": "att as stored (L2-normalised columns)",
    }
    return write_feature_dataset(
        out_dir,
        name=name or dataset_dir.resolve().name,
        features=scaled,
        labels=labels,
        splits=splits,
        class_names=class_names,
        attributes=attributes,
        source=f"xlsa17 {dataset_dir.resolve()} ({FEATURES_FILE}, {SPLITS_FILE})",
        scaling=scaling,
    )


def _load_mat(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path} is missing: download the xlsa17 data and pass the directory holding {path.name}")
    try:
        mat = scipy.io.loadmat(path, variable_names=names)
    except NotImplementedError:  # scipy's answer to MATLAB v7.3 (HDF5) files
        raise DataError(f"{path} is a MATLAB v7.3 file: re-save it with `save(..., '-v7')`") from None
    except (ValueError, OSError, EOFError, MatReadError, zlib.error) as error:
        raise DataError(f"{path} is not a readable MAT file ({error}): download it again") from None
    if missing := [name for name in names if name not in mat]:
        raise DataError(f"{path} lacks the variable(s) {', '.join(missing)}: is it the xlsa17 {path.name}?")
    return mat


def _integers(values: np.ndarray, variable: str, path: Path) -> np.ndarray:
    """A vector of whole numbers as int64; converted before any arithmetic, so uint16 cannot wrap."""
    if values.ndim > 2 or values.ndim == 2 and 1 not in values.shape or not np.issubdtype(values.dtype, np.number):
        raise DataError(f"{path}: `{variable}` is {values.dtype} {values.shape}, expected an n x 1 vector of numbers")
    vector = values.reshape(-1)
    as_int = vector.astype(np.int64)
    if not np.array_equal(as_int, vector):
        raise DataError(f"{path}: `{variable}` holds non-integer values, expected 1-based indices")
    return as_int


def _class_names(values: np.ndarray, path: Path) -> list[str]:
    """C x 1 cell of strings (an object array of 1-element string arrays) -> list of C names."""
    names = []
    for cell in values.reshape(-1):
        inner = np.asarray(cell).reshape(-1)
        if inner.size != 1 or inner.dtype.kind != "U":
            raise DataError(f"{path}: `allclasses_names` entry {len(names) + 1} is {inner!r}, expected one string")
        names.append(str(inner[0]).strip())
    if not names or len(set(names)) != len(names):
        raise DataError(f"{path}: `allclasses_names` is empty or repeats a name: download the file again")
    return names


def _splits(mat: dict[str, np.ndarray], rows: int, path: Path) -> np.ndarray:
    """The split of every row from the 1-based locations, which must partition 1..rows exactly."""
    splits = np.full(rows, "", dtype="<U11")
    every = []
    for split, variable in LOCATIONS.items():
        locations = _integers(mat[variable], variable, path) - 1
        if len(locations) and (locations.min() < 0 or locations.max() >= rows):
            raise DataError(
                f"{path}: `{variable}` spans {locations.min() + 1}..{locations.max() + 1}, outside 1..{rows} "
                f"(the images in {FEATURES_FILE}): the files belong to different benchmarks"
            )
        splits[locations] = split
        every.append(locations)
    times = np.bincount(np.concatenate(every), minlength=rows)
    overlaps, gaps = int(np.count_nonzero(times > 1)), int(np.count_nonzero(times == 0))
    if overlaps or gaps:
        raise DataError(
            f"{path}: {', '.join(LOCATIONS.values())} must partition 1..{rows} exactly, but {overlaps} images "
            f"are in more than one and {gaps} in none: download the split file again"
        )
    return splits
