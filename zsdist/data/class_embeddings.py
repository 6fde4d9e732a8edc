"""Class embeddings from a file of their own, to replace a benchmark's attributes (`--class_embedding`).

Later zero-shot papers swap the xlsa17 attributes for other class embeddings of the same classes, e.g.
CUB's 1024-d sentence embeddings (Reed et al., CVPR 2016), passed around as `sent_splits.mat`: a copy
of `att_splits.mat` whose `att` is 1024 x 200. Two forms are read:

- `.mat`: one matrix, either d x C (the xlsa17 convention) or C x d; the orientation whose class axis
  has the benchmark's C entries is taken, and a C x C matrix is refused as ambiguous. The variable is
  the one given (`--class_embedding_key`), else the file's only numeric matrix (vectors such as the
  split locations do not count), else `att` when the file holds it among others (the name every
  `*_splits.mat` uses for its class embedding), else the caller must choose.
- `.npy`: a C x d array (NumPy files carry no convention to detect, so rows are classes).

Values are used as stored: nothing is normalised here, and the importer records what it used.
Every problem is a one-line DataError naming the file and the fix.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from zsdist.base.errors import DataError

PREFERRED_KEY = "att"
NUMERIC_CLASSES = {"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"}


@contextmanager
def readable_mat(path: Path) -> Iterator[None]:
    """Turns scipy's errors on a file it cannot read into one-line DataErrors naming the file."""
    try:
        yield
    except NotImplementedError:  # scipy's answer to MATLAB v7.3 (HDF5) files
        raise DataError(f"{path} is a MATLAB v7.3 file: re-save it with `save(..., '-v7')`") from None
    except (ValueError, OSError, EOFError, MatReadError, zlib.error) as error:
        raise DataError(f"{path} is not a readable MAT file ({error}): download it again") from None


def read_mat(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The named variables of a MAT file, those it lacks left out; the others are never decoded."""
    with readable_mat(path):
        return scipy.io.loadmat(path, variable_names=names)


def read_class_embedding(path: Path | str, classes: int, key: str | None = None) -> tuple[np.ndarray, str]:
    """(classes, d) float32 embeddings and where they came from, e.g. 'sent_splits.mat:att (d x C)'."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"class embedding file {path} is missing: pass an existing .mat or .npy file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if key is not None:
            raise DataError(f"{path} is a .npy file, which holds one array: drop --class_embedding_key")
        matrix = _npy_matrix(path)
        if matrix.shape[0] != classes:
            raise DataError(f"{path} is {matrix.shape[0]} x {matrix.shape[1]}, expected {classes} x d "
                            f"(one row per class of the benchmark): transpose it or pick the file for this dataset")
        return matrix, f"{path.name} (C x d)"
    if suffix != ".mat":
        raise DataError(f"class embedding file {path} is neither .mat nor .npy: convert it to one of them")
    key = key or _default_key(path)
    matrix = _numeric_matrix(read_mat(path, [key]).get(key), f"{path}: `{key}`", path)
    rows, columns = matrix.shape
    if rows == columns == classes:
        raise DataError(f"{path}: `{key}` is {rows} x {columns}, so classes and dimensions cannot be told apart: "
                        f"save it as a {classes} x d .npy file")
    if columns == classes:
        return np.ascontiguousarray(matrix.T), f"{path.name}:{key} (d x C)"
    if rows == classes:
        return matrix, f"{path.name}:{key} (C x d)"
    raise DataError(f"{path}: `{key}` is {rows} x {columns}, but the benchmark has {classes} classes: "
                    f"is it the class embedding of this dataset?")


def _default_key(path: Path) -> str:
    """The file's only numeric matrix, else `att` among several, else a one-line error listing them."""
    with readable_mat(path):
        variables = scipy.io.whosmat(path)  # (name, shape, MATLAB class) of each variable, not its values
    # Vectors (split locations, labels) are no class embedding, whatever their element type.
    candidates = [name for name, shape, kind in variables
                  if kind in NUMERIC_CLASSES and len(shape) == 2 and min(shape) > 1]
    if len(candidates) == 1:
        return candidates[0]
    if PREFERRED_KEY in candidates:
        return PREFERRED_KEY
    if not candidates:
        names = ", ".join(name for name, _, _ in variables) or "none"
        raise DataError(f"{path} holds no numeric matrix (variables: {names}): pass a class embedding file")
    raise DataError(f"{path} holds several matrices ({', '.join(candidates)}): choose one with --class_embedding_key")


def _npy_matrix(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)  # no pickled objects: a data file must not run code
    except (ValueError, OSError, EOFError) as error:
        raise DataError(f"{path} is not a readable .npy file of numbers ({error}): save it with numpy.save") from None
    return _numeric_matrix(array, str(path), path)


def _numeric_matrix(array: np.ndarray | None, what: str, path: Path) -> np.ndarray:
    if array is None:
        names = ", ".join(name for name, _, _ in scipy.io.whosmat(path))
        raise DataError(f"{what} is not in the file (it holds {names or 'nothing'}): fix --class_embedding_key")
    if array.ndim != 2 or array.size == 0 or not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{what} is {array.dtype} {array.shape}, expected a numeric 2-D matrix of class embeddings")
    matrix = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(matrix).all():
        raise DataError(f"{what} holds NaN or infinite values: regenerate the class embeddings")
    return matrix
