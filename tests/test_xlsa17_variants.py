"""The xlsa17 importer on the file variants in circulation, and `--class_embedding` (no Ray).

Each test writes its own small MAT files: extra variables (`image_files`, `original_att`, `train_loc`,
`val_loc`, anything), files without `allclasses_names` (as FLO's), row vectors, other encodings of the
names, and class-embedding files replacing `att`. One test uses the real AWA1 split file.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from test_xlsa17 import REAL, XLSA17, fake_features

from zsdist.base.errors import ConfigError, DataError
from zsdist.cli import main
from zsdist.data.features import read_feature_dataset
from zsdist.data.xlsa17 import import_xlsa17, index_names, load_xlsa17, parse_class_names

NAMES = ["cat", "grizzly+bear", "ox", "blue_whale", "bat"]  # unequal lengths: a char matrix pads them
LABELS = np.array([1, 2, 3, 1, 2, 3, 1, 2, 4, 5])
LOCS = {"trainval_loc": [1, 2, 3, 4, 5, 6], "test_seen_loc": [7, 8], "test_unseen_loc": [9, 10]}
RNG = np.random.default_rng(3)
FEATURES = RNG.random((8, 10))  # D x N
ATT = RNG.random((6, 5))  # d x C
ATT /= np.linalg.norm(ATT, axis=0)


def cell(strings: list[str], shape=(-1, 1)) -> np.ndarray:
    """A MATLAB cell of strings as scipy reads it: an object array of 1-element string arrays."""
    values = np.empty(len(strings), dtype=object)
    values[:] = [np.array([s]) for s in strings]
    return values.reshape(shape)


def write(directory: Path, *, extra=False, names="cell", rows=False, drop=()) -> Path:
    """An xlsa17 directory of 10 images and 5 classes (3 seen); `names` None leaves out allclasses_names."""
    directory.mkdir(exist_ok=True)
    vector = (lambda v: np.asarray(v, np.uint16)[None, :]) if rows else (lambda v: np.asarray(v, np.uint16)[:, None])
    split_file = {"att": ATT, **{key: vector(loc) for key, loc in LOCS.items()}}
    if names is not None:
        split_file["allclasses_names"] = {
            "cell": cell(NAMES), "row_cell": cell(NAMES, (1, -1)), "strings": np.array(NAMES, dtype=object),
            "char": np.array(NAMES),
        }[names]
    res101 = {"features": FEATURES, "labels": LABELS[None, :] if rows else LABELS[:, None]}
    if extra:
        split_file |= {"original_att": ATT * 100, "train_loc": vector([1, 2, 3]), "val_loc": vector([4, 5, 6]),
                       "notes": np.array(["from a colleague"]), "random": RNG.random((3, 4))}
        res101 |= {"image_files": cell([f"/images/{i}.jpg" for i in range(10)]), "random": RNG.random((2, 2))}
    for key in drop:
        (split_file if key in split_file else res101).pop(key)
    scipy.io.savemat(directory / "att_splits.mat", split_file)
    scipy.io.savemat(directory / "res101.mat", res101)
    return directory


def one_line_error(error_type, call, *args, **kwargs) -> str:
    with pytest.raises(error_type) as error:
        call(*args, **kwargs)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_extra_variables_are_ignored(tmp_path):
    plain = read_feature_dataset(import_xlsa17(write(tmp_path / "plain"), tmp_path / "out1", name="x"))
    extra = read_feature_dataset(import_xlsa17(write(tmp_path / "extra", extra=True), tmp_path / "out2", name="x"))
    for field in ("features", "labels", "splits", "attributes"):
        np.testing.assert_array_equal(getattr(extra, field), getattr(plain, field))
    assert extra.class_names == plain.class_names == NAMES
    assert extra.description["content_sha256"] == plain.description["content_sha256"]
    assert extra.description["scaling"] == plain.description["scaling"]
    assert plain.description["scaling"]["attributes"] == "att as stored (L2-normalised columns)"


def test_without_class_names_classes_are_named_by_index(tmp_path):
    out = import_xlsa17(write(tmp_path / "FLO", extra=True, names=None), tmp_path / "out")
    data = read_feature_dataset(out)
    assert data.class_names == ["class_000", "class_001", "class_002", "class_003", "class_004"]
    assert "classes named by index, as att_splits.mat has no allclasses_names" in data.description["source"]
    assert index_names(1001)[-2:] == ["class_0999", "class_1000"]  # wider only when needed, still sortable


@pytest.mark.parametrize("names", ["row_cell", "strings", "char"])
def test_other_encodings_of_the_names_and_row_vectors(tmp_path, names):
    expected = load_xlsa17(write(tmp_path / "plain"))
    got = load_xlsa17(write(tmp_path / names, names=names, rows=True))
    assert got[3] == NAMES
    for want, have in zip(expected, got):
        np.testing.assert_array_equal(have, want)


def test_names_as_bytes_or_nested_cells(tmp_path):
    path = tmp_path / "att_splits.mat"
    assert parse_class_names(np.array([b"cat ", b"ox"]), path) == ["cat", "ox"]
    assert parse_class_names(np.array([b"cat", np.array([b"ox"])], dtype=object), path) == ["cat", "ox"]
    nested = np.empty((2, 1), dtype=object)
    nested[:, 0] = [cell(["cat"], (1, 1)), cell(["ox"], (1, 1))]
    assert parse_class_names(nested, path) == ["cat", "ox"]
    message = one_line_error(DataError, parse_class_names, np.array([b"\xff", b"ox"], dtype=object), path)
    assert "`allclasses_names` entry 1" in message and "expected one string" in message


@pytest.mark.parametrize("key", ["features", "labels", "att", "trainval_loc", "test_seen_loc", "test_unseen_loc"])
def test_a_missing_required_variable_is_named(tmp_path, key):
    directory = write(tmp_path, extra=True, drop=[key])  # the extra variables do not stand in for it
    message = one_line_error(DataError, load_xlsa17, directory)
    file = "res101.mat" if key in ("features", "labels") else "att_splits.mat"
    assert f"{file} lacks the variable(s) {key}: is it the xlsa17 {file}?" in message


def embedding_file(path: Path, matrix: np.ndarray, **others) -> Path:
    if path.suffix == ".npy":
        np.save(path, matrix)
    else:
        scipy.io.savemat(path, {"att": matrix, **others})
    return path


EMBEDDING = RNG.normal(size=(5, 12)).astype(np.float32)  # C x d, not normalised


@pytest.mark.parametrize(("file", "stored"), [("sent_splits.mat", EMBEDDING.T), ("emb.mat", EMBEDDING),
                                              ("emb.npy", EMBEDDING)])
def test_a_class_embedding_file_replaces_att(tmp_path, file, stored):
    # Like the passed-around sent_splits.mat: the split locations (vectors) next to the one matrix.
    locations = {key: np.asarray(loc, np.uint16)[:, None] for key, loc in LOCS.items()}
    path = embedding_file(tmp_path / file, stored, **locations)
    out = import_xlsa17(write(tmp_path / "CUB"), tmp_path / "out", class_embedding=path)
    data = read_feature_dataset(out)
    np.testing.assert_array_equal(data.attributes, EMBEDDING)
    assert data.description["attribute_dim"] == 12 and str(path.resolve()) in data.description["source"]
    assert data.description["scaling"]["attributes"].startswith(f"{file}")
    assert "12-d (not L2-normalised)" in data.description["scaling"]["attributes"]


def test_class_embedding_errors(tmp_path):
    directory = write(tmp_path / "CUB")

    def error(path: Path, key=None, error_type=DataError) -> str:
        return one_line_error(error_type, load_xlsa17, directory, class_embedding=path, class_embedding_key=key)

    assert "is 4 x 12, but the benchmark has 5 classes" in error(embedding_file(tmp_path / "a.mat", EMBEDDING[:4]))
    assert "is 12 x 5, expected 5 x d" in error(embedding_file(tmp_path / "b.npy", EMBEDDING.T))
    assert "cannot be told apart" in error(embedding_file(tmp_path / "c.mat", np.eye(5)))
    several = tmp_path / "several.mat"
    scipy.io.savemat(several, {"w2v": EMBEDDING, "glove": EMBEDDING.T, "loc": np.arange(3)[:, None]})
    assert "holds several matrices (w2v, glove): choose one with --class_embedding_key" in error(several)
    assert "`word2vec` is not in the file (it holds w2v, glove, loc)" in error(several, "word2vec")
    np.testing.assert_array_equal(load_xlsa17(directory, class_embedding=several, class_embedding_key="w2v")[4],
                                  EMBEDDING)
    # Among several matrices `att` wins: the class embedding of every *_splits.mat.
    preferred = embedding_file(tmp_path / "d.mat", EMBEDDING, original_att=EMBEDDING * 2)
    np.testing.assert_array_equal(load_xlsa17(directory, class_embedding=preferred)[4], EMBEDDING)
    assert "drop --class_embedding_key" in error(embedding_file(tmp_path / "e.npy", EMBEDDING), "att")
    assert "class embedding file" in error(tmp_path / "missing.mat") and "is missing" in error(tmp_path / "m.npy")
    assert "NaN or infinite" in error(embedding_file(tmp_path / "f.npy", EMBEDDING * np.nan))
    assert "pass that file too" in one_line_error(ConfigError, load_xlsa17, directory, class_embedding_key="att")


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """`zsdist ARGS` in this process (as tests/test_cli.py runs it): exit status and stderr.

    Each call builds the whole parser (1-2 s), so the CLI is run only twice; the API tests cover the rest."""
    code = 0
    try:
        main(list(args))
    except SystemExit as exit:
        code = exit.code
    return code, capsys.readouterr().err


def test_real_awa1_split_file_without_names_and_with_a_class_embedding_via_the_cli(tmp_path, capsys):
    directory = tmp_path / "AWA1"
    directory.mkdir()
    split_file = scipy.io.loadmat(XLSA17 / "AWA1" / "att_splits.mat")  # with original_att, train_loc, val_loc
    assert {"original_att", "train_loc", "val_loc"} <= set(split_file)
    kept = {key: value for key, value in split_file.items() if key != "allclasses_names" and not key.startswith("__")}
    scipy.io.savemat(directory / "att_splits.mat", kept)
    _, _, _, classes, seen, _ = REAL["AWA1"]
    scipy.io.savemat(directory / "res101.mat", fake_features(split_file, classes, seen, np.random.default_rng(0)))
    embedding = embedding_file(tmp_path / "w2v.npy", RNG.normal(size=(classes, 300)))

    code, stderr = run_cli(capsys, "datagen", "xlsa17", str(directory), "--out", str(tmp_path / "out"),
                           "--class_embedding", str(embedding))
    assert code == 0, stderr
    data = read_feature_dataset(tmp_path / "out")
    np.testing.assert_array_equal(data.attributes, np.load(embedding).astype(np.float32))
    assert data.class_names[0] == "class_000" and len(data.class_names) == classes == data.description["classes"]
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert "w2v.npy (C x d) as stored instead of att, 300-d" in manifest["scaling"]["attributes"]

    shutil.copy(XLSA17 / "AWA1" / "att_splits.mat", directory)  # with its names, and 50 classes, not 49
    wrong = embedding_file(tmp_path / "wrong.mat", RNG.normal(size=(300, classes - 1)))
    code, stderr = run_cli(capsys, "datagen", "xlsa17", str(directory), "--out", str(tmp_path / "out2"),
                           "--class_embedding", str(wrong))
    assert code == 2 and stderr.count("\n") == 1
    assert "`att` is 300 x 49, but the benchmark has 50 classes" in stderr
    assert not (tmp_path / "out2").exists()
