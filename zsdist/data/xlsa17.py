"""Import the xlsa17 "Proposed Split" benchmarks (Xian et al., TPAMI 2018) into the feature-dataset format.

A dataset directory (xlsa17/data/CUB, SUN, AWA1, AWA2, APY, and FLO as passed around with them) holds
two MAT files. Required, as nothing can be imported without them:
- `res101.mat`: `features` (D x N ResNet-101 features) and `labels` (N, 1-based class indices).
- `att_splits.mat`: `att` (d x C class embedding, L2-normalised columns in the release) and the 1-based
  image indices `trainval_loc`, `test_seen_loc`, `test_unseen_loc` (uint16 in the real files).
Optional: `allclasses_names` (C names; FLO's file has none). Without it classes are named `class_000`,
`class_001`, ... by index and the manifest's source says so. A cell of strings (C x 1 or 1 x C), a char
matrix and bytes are all read as names.
Ignored, and never decoded: `image_files` (paths of the images behind the features), `original_att`
(the attributes before normalisation: published results use `att`), `train_loc` and `val_loc` (the
release's class-disjoint validation split: here validation is carved out of trainval at training
time, `--validation pseudo_unseen`), MATLAB's header keys and any other variable.
Vectors may be stored n x 1 or 1 x n. Every inconsistency becomes a one-line DataError before anything
is written.

`class_embedding` (`--class_embedding FILE`) replaces `att` by another embedding of the same classes,
e.g. CUB's 1024-d sentence embeddings in `sent_splits.mat` (read by `zsdist/data/class_embeddings.py`);
`att` still sets the class count when `allclasses_names` is absent.

Features are min-max scaled per dimension with bounds fitted on trainval rows only and applied to all
rows without clipping: test rows may fall outside [0, 1]. That is the non-transductive choice (test
images must not influence preprocessing), as in the official CADA-VAE code since its 2020 fix.
Attributes are used as stored, never normalised here; the manifest's `scaling.attributes` says which
were used and whether they are L2-normalised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zsdist.base.errors import ConfigError, DataError
from zsdist.data.class_embeddings import read_class_embedding, read_mat
from zsdist.data.features import SPLITS, write_feature_dataset

FEATURES_FILE = "res101.mat"
SPLITS_FILE = "att_splits.mat"
LOCATIONS = {split: f"{split}_loc" for split in SPLITS}
NAMES = "allclasses_names"


def load_xlsa17(
    dataset_dir: Path | str, *, class_embedding: Path | str | None = None, class_embedding_key: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray]:
    """features (N, D) float32, labels (N,) 0-based, splits (N,) str, class names, attributes (C, d) float32.

    `class_embedding` (a .mat or .npy file) replaces `att` as the attributes; `class_embedding_key` names
    the variable of a .mat file holding several matrices.
    """
    return _load(Path(dataset_dir), class_embedding, class_embedding_key)[:5]


def _load(dataset_dir: Path, class_embedding: Path | str | None, class_embedding_key: str | None) -> tuple:
    """load_xlsa17's five arrays, then how the attributes and the class names were obtained (for the manifest)."""
    if class_embedding_key is not None and class_embedding is None:
        raise ConfigError("--class_embedding_key names a variable of --class_embedding FILE: pass that file too")
    features_path, splits_path = dataset_dir / FEATURES_FILE, dataset_dir / SPLITS_FILE
    # The small split file first: a wrong directory fails before the large features file is read.
    splits_mat = _load_mat(splits_path, ["att", *LOCATIONS.values()], optional=(NAMES,))
    att = splits_mat["att"]
    if att.ndim != 2 or att.size == 0 or not np.issubdtype(att.dtype, np.number):
        raise DataError(f"{splits_path}: `att` is {att.dtype} {att.shape}, expected a numeric d x C matrix")
    named = NAMES in splits_mat
    class_names = parse_class_names(splits_mat[NAMES], splits_path) if named else index_names(att.shape[1])
    if att.shape[1] != len(class_names):
        raise DataError(f"{splits_path}: `att` is {att.shape}, expected d x {len(class_names)} (one column per class)")
    if class_embedding is None:
        attributes = np.ascontiguousarray(att.T, dtype=np.float32)
        unit = _unit_rows(attributes)
        attribute_note = f"att as stored ({'L2-normalised columns' if unit else 'columns not L2-normalised'})"
    else:
        attributes, origin = read_class_embedding(class_embedding, len(class_names), class_embedding_key)
        unit = _unit_rows(attributes)
        attribute_note = (f"{origin} as stored instead of att, {attributes.shape[1]}-d "
                          f"({'L2-normalised per class' if unit else 'not L2-normalised'})")

    mat = _load_mat(features_path, ["features", "labels"])
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
    return features, labels, splits, class_names, attributes, attribute_note, named


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


def import_xlsa17(
    dataset_dir: Path | str,
    out_dir: Path | str,
    *,
    name: str | None = None,
    class_embedding: Path | str | None = None,
    class_embedding_key: str | None = None,
) -> Path:
    """Load an xlsa17 dataset, scale its features (fitted on trainval) and write it as a feature dataset."""
    dataset_dir = Path(dataset_dir)
    loaded = _load(dataset_dir, class_embedding, class_embedding_key)
    features, labels, splits, class_names, attributes, attribute_note, named = loaded
    lo, hi = fit_min_max(features[splits == "trainval"])
    scaled = apply_min_max(features, lo, hi)
    scaling = {
        "method": "min-max per feature dimension",
        "fit_on": "trainval",
        "clipped": False,  # test rows may lie outside [0, 1]
        "constant_dims": int(np.count_nonzero(hi == lo)),
        "lo_range": [float(lo.min()), float(lo.max())],
        "hi_range": [float(hi.min()), float(hi.max())],
        "attributes": attribute_note,
    }
    source = f"xlsa17 {dataset_dir.resolve()} ({FEATURES_FILE}, {SPLITS_FILE})"
    if class_embedding is not None:
        source += f"; attributes from {Path(class_embedding).resolve()}"
    if not named:
        source += f"; classes named by index, as {SPLITS_FILE} has no {NAMES}"
    return write_feature_dataset(
        out_dir,
        name=name or dataset_dir.resolve().name,
        features=scaled,
        labels=labels,
        splits=splits,
        class_names=class_names,
        attributes=attributes,
        source=source,
        scaling=scaling,
    )


def index_names(classes: int) -> list[str]:
    """`class_000`, `class_001`, ...: zero-padded so that names sort in class order."""
    width = max(3, len(str(classes - 1)))
    return [f"class_{index:0{width}d}" for index in range(classes)]


def parse_class_names(values: np.ndarray, path: Path) -> list[str]:
    """C names from any of the encodings in circulation: a cell of strings (C x 1 or 1 x C), which scipy
    loads as an object array of 1-element string arrays, plain strings, a char matrix (C padded strings)
    or bytes (UTF-8)."""
    names = []
    for entry in np.asarray(values).reshape(-1):
        name = _one_string(entry)
        if name is None:
            raise DataError(f"{path}: `{NAMES}` entry {len(names) + 1} is {entry!r}, expected one string")
        names.append(name)
    if not names or len(set(names)) != len(names):
        raise DataError(f"{path}: `{NAMES}` is empty or repeats a name: download the file again")
    return names


def _one_string(entry: object) -> str | None:
    while isinstance(entry, np.ndarray) and entry.size == 1:  # a cell wraps each string, maybe more than once
        entry = entry.reshape(-1)[0]
    if isinstance(entry, bytes):
        try:
            entry = entry.decode()
        except UnicodeDecodeError:
            return None
    # A char matrix pads its rows with spaces to the longest name.
    return entry.strip() if isinstance(entry, str) else None


def _unit_rows(matrix: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4))


def _load_mat(path: Path, names: list[str], optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The required `names` and those of `optional` the file has; any other variable is never decoded."""
    if not path.is_file():
        raise DataError(f"{path} is missing: download the xlsa17 data and pass the directory holding {path.name}")
    mat = read_mat(path, [*names, *optional])
    if missing := [name for name in names if name not in mat]:
        raise DataError(f"{path} lacks the variable(s) {', '.join(missing)}: is it the xlsa17 {path.name}?")
    return mat


def _integers(values: np.ndarray, variable: str, path: Path) -> np.ndarray:
    """A vector (n x 1 or 1 x n) of whole numbers as int64; converted before any arithmetic, so uint16 cannot wrap."""
    if values.ndim > 2 or values.ndim == 2 and 1 not in values.shape or not np.issubdtype(values.dtype, np.number):
        raise DataError(f"{path}: `{variable}` is {values.dtype} {values.shape}, expected an n x 1 or 1 x n vector "
                        f"of numbers")
    vector = values.reshape(-1)
    as_int = vector.astype(np.int64)
    if not np.array_equal(as_int, vector):
        raise DataError(f"{path}: `{variable}` holds non-integer values, expected 1-based indices")
    return as_int


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
