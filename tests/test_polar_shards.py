"""Polar shards on disk: schema, determinism, readers, parallel generation, resume and refusals."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datagen import GENERATOR_VERSION
from datagen.png import decode_png, encode_png
from datagen.render.polar import IMAGE_TYPE, POLAR_COLUMNS, POLAR_FEATURES, render_curve
from datagen.run import generate_polar
from datagen.shards import MANIFEST_NAME, dataset_files, read_spec, shard_state
from datagen.spec.polar import PolarSpec
from datagen.verify import verify_dataset
from zsdist.base.errors import ConfigError, DataError

SPEC = PolarSpec(n_points=200, n_test=20, resolution=32, shard_rows=64)  # 245 rows in 4 shards
SHARDS = [f"shard-{i:05d}-of-00004.parquet" for i in range(4)]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file in a directory, to prove what a run did and did not touch."""
    return {path.name: (_sha256(path), path.stat().st_mtime_ns) for path in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def generated(ray_cluster, tmp_path_factory) -> Path:
    """SPEC generated once with two parallel workers; tests that change files work on copies."""
    out_dir = tmp_path_factory.mktemp("polar") / "data"
    report = generate_polar(SPEC, out_dir, num_workers=2, progress=False)
    assert (report.written, report.skipped, report.rewritten, report.images) == (4, 0, 0, 245)
    return out_dir


@pytest.fixture
def copy_of_generated(generated, tmp_path) -> Path:
    return Path(shutil.copytree(generated, tmp_path / "copy"))


def test_shard_schema_and_metadata(generated):
    assert sorted(p.name for p in generated.iterdir()) == [MANIFEST_NAME, *SHARDS]
    parquet = pq.ParquetFile(generated / SHARDS[1])
    schema = parquet.schema_arrow
    assert schema.names == list(POLAR_COLUMNS)
    assert schema.field("image").type == IMAGE_TYPE
    assert [schema.field(name).type for name in POLAR_COLUMNS[1:]] == [
        pa.int64(), pa.float64(), pa.float64(), pa.float64(), pa.bool_(), pa.string()
    ]
    metadata = {key.decode(): value.decode() for key, value in schema.metadata.items() if key != b"ARROW:schema"}
    assert set(metadata) == {"zsdist.spec", "zsdist.fingerprint", "zsdist.generator", "zsdist.shard", "huggingface"}
    assert json.loads(metadata["zsdist.spec"]) == SPEC.to_dict()
    assert metadata["zsdist.fingerprint"] == SPEC.fingerprint()
    assert metadata["zsdist.generator"] == GENERATOR_VERSION
    assert json.loads(metadata["zsdist.shard"]) == {"index": 1, "count": 4, "rows": 64}
    assert json.loads(metadata["huggingface"]) == {"info": {"features": POLAR_FEATURES}}
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    table = parquet.read()
    assert table["index"].to_pylist() == list(range(64, 128))
    first = table["image"][0].as_py()
    assert first["path"] == "polar_000064.png"
    assert np.array_equal(decode_png(first["bytes"]), render_curve(table["a"][0].as_py(), table["b"][0].as_py(), SPEC))
    assert read_spec(generated) == SPEC.to_dict()
    assert dataset_files(generated) == [generated / name for name in SHARDS]


def test_same_spec_gives_identical_bytes_in_another_directory(generated, ray_cluster, tmp_path):
    report = generate_polar(SPEC, tmp_path / "again", num_workers=1, progress=False)
    assert report.written == 4
    for name in [*SHARDS, MANIFEST_NAME]:
        assert _sha256(tmp_path / "again" / name) == _sha256(generated / name), name
    manifest = json.loads((generated / MANIFEST_NAME).read_text())
    assert [shard["sha256"] for shard in manifest["shards"]] == [_sha256(generated / name) for name in SHARDS]
    assert manifest["rows"] == 245 and manifest["fingerprint"] == SPEC.fingerprint()


def test_ray_data_reads_every_row(generated, ray_cluster):
    import ray.data

    dataset = ray.data.read_parquet(str(generated))
    assert dataset.count() == SPEC.total_rows
    assert sorted(row["index"] for row in dataset.select_columns(["index"]).take_all()) == list(range(245))


def test_hugging_face_datasets_decodes_images_as_pil(generated, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets
    from PIL import Image

    loaded = datasets.load_dataset(
        "parquet", data_files=[str(generated / name) for name in SHARDS], cache_dir=str(tmp_path / "hf-cache")
    )["train"]
    assert loaded.num_rows == 245
    assert loaded.features["image"] == datasets.Image()
    row = loaded[70]
    assert isinstance(row["image"], Image.Image) and row["image"].mode == "L" and row["image"].size == (32, 32)
    assert np.array_equal(np.asarray(row["image"]), render_curve(row["a"], row["b"], SPEC))
    assert row["index"] == 70 and row["split"] in ("train", "hole")


def test_resume_rewrites_only_missing_and_damaged_shards(generated, copy_of_generated, ray_cluster):
    out = copy_of_generated
    (out / SHARDS[1]).unlink()
    with open(out / SHARDS[2], "r+b") as file:  # Truncated: the footer is gone.
        file.truncate(1000)
    data = bytearray((out / SHARDS[3]).read_bytes())
    data[len(data) // 3] ^= 0xFF  # A flipped byte inside the data: readable, but not what we wrote.
    (out / SHARDS[3]).write_bytes(bytes(data))
    (out / f".{SHARDS[0]}.x1y2z3.tmp").write_bytes(b"left by a crashed run")
    assert shard_state(out / SHARDS[1], SPEC.fingerprint(), 64) == "missing"
    assert shard_state(out / SHARDS[2], SPEC.fingerprint(), 64) == "partial"
    untouched = (out / SHARDS[0]).stat().st_mtime_ns

    report = generate_polar(SPEC, out, num_workers=2, progress=False)

    assert report.actions == dict(zip(SHARDS, ["skipped", "written", "rewritten", "rewritten"]))
    assert (report.written, report.skipped, report.rewritten, report.images) == (1, 1, 2, 64 + 64 + 53)
    assert (out / SHARDS[0]).stat().st_mtime_ns == untouched
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_NAME, *SHARDS]  # The stale temp file is gone.
    assert {name: sha for name, (sha, _) in _snapshot(out).items()} == {
        name: sha for name, (sha, _) in _snapshot(generated).items()
    }
    assert verify_dataset(out).ok


def test_foreign_parquet_file_is_refused_and_nothing_is_touched(copy_of_generated, ray_cluster):
    out = copy_of_generated
    pq.write_table(pa.table({"x": [1, 2, 3]}), out / "notes.parquet")
    (out / SHARDS[1]).unlink()
    before = _snapshot(out)
    with pytest.raises(DataError, match="notes.parquet is not a shard of this dataset") as error:
        generate_polar(SPEC, out, progress=False)
    assert "\n" not in str(error.value)
    assert _snapshot(out) == before


def test_shard_of_another_spec_is_refused_and_nothing_is_touched(copy_of_generated, ray_cluster):
    out = copy_of_generated
    (out / SHARDS[1]).unlink()
    before = _snapshot(out)
    other_seed = PolarSpec(n_points=200, n_test=20, resolution=32, shard_rows=64, seed=7)
    with pytest.raises(DataError, match=r"written for a different spec \(seed=0, this run 7\).*new --out") as error:
        generate_polar(other_seed, out, progress=False)
    assert "\n" not in str(error.value)
    with pytest.raises(DataError, match="different spec"):  # Other shard count: names differ, still ours.
        generate_polar(PolarSpec(n_points=300, n_test=20, resolution=32, shard_rows=64), out, progress=False)
    assert _snapshot(out) == before


def test_parquet_without_our_metadata_under_a_shard_name_is_refused(tmp_path, ray_cluster):
    out = tmp_path / "data"
    out.mkdir()
    pq.write_table(pa.table({"x": [1]}), out / SHARDS[0])
    before = _snapshot(out)
    with pytest.raises(DataError, match="which zsdist did not write"):
        generate_polar(SPEC, out, progress=False)
    assert _snapshot(out) == before


def test_unwritable_output_directory_is_refused_before_any_work(tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    for out in [tmp_path / "a-file" / "data", Path("/proc/self")]:
        with pytest.raises(DataError, match=r"^cannot write to .*: choose a writable --out$") as error:
            generate_polar(SPEC, out, progress=False)
        assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("changes", "flag"),
    [
        ({"resolution": 8}, "--resolution 16 or more"),
        ({"n_points": 0}, "--n_points 1 or more"),
        ({"n_test": 201}, "--n_test 200 or less"),
        ({"a_range": (2.0, 0.5)}, "--a_range LOW,HIGH"),
        ({"hole_center": (3.0, 1.0)}, "--hole_center"),
        ({"hole_radius": 0.0}, "--hole_radius"),
        ({"transect_points": 1}, "--transect_points 2 or more"),
        ({"shard_rows": 0}, "--shard_rows 1 or more"),
        ({"supersample": 0}, "--supersample 1 or more"),
        ({"line_width": -1.0}, "--line_width"),
    ],
)
def test_impossible_specs_raise_one_line_config_errors(changes, flag):
    with pytest.raises(ConfigError) as error:
        PolarSpec(**{"n_points": 200, "n_test": 20, **changes})
    assert flag in str(error.value) and "\n" not in str(error.value)
    assert isinstance(error.value, ValueError)


def test_verify_dataset_names_the_corrupted_shard(copy_of_generated):
    out = copy_of_generated
    assert verify_dataset(out).ok
    data = bytearray((out / SHARDS[2]).read_bytes())
    data[200] ^= 0x01
    (out / SHARDS[2]).write_bytes(bytes(data))
    report = verify_dataset(out)
    assert not report.ok
    assert report.problems and all(problem.startswith(f"{SHARDS[2]}: ") for problem in report.problems)
    assert any("sha256" in problem for problem in report.problems)
    (out / SHARDS[0]).unlink()
    assert f"{SHARDS[0]}: missing" in verify_dataset(out).problems
    with pytest.raises(DataError, match=rf"{SHARDS[0]} is missing: rerun `zsdist datagen polar --out"):
        dataset_files(out)


def test_readers_need_the_manifest(copy_of_generated, tmp_path):
    (copy_of_generated / MANIFEST_NAME).unlink()
    with pytest.raises(DataError, match=r"unfinished dataset .* rerun `zsdist datagen polar --out .*` \(it resumes\)$"):
        dataset_files(copy_of_generated, dataset="polar")
    with pytest.raises(DataError, match=r"holds no generated dataset .*`zsdist datagen polar --out .*`$"):
        read_spec(tmp_path / "elsewhere", dataset="polar")


def test_png_round_trip_and_rejection():
    pixels = np.arange(32 * 48, dtype=np.uint8).reshape(32, 48)
    rgb = np.stack([pixels, 255 - pixels, pixels // 2], axis=-1)
    assert np.array_equal(decode_png(encode_png(pixels)), pixels)
    assert np.array_equal(decode_png(encode_png(rgb)), rgb)
    assert encode_png(pixels) == encode_png(pixels.copy())
    for broken in [b"", b"not a png", encode_png(pixels)[:-30]]:
        with pytest.raises(DataError, match="not a valid PNG"):
            decode_png(broken)
