"""The Fonts dataset on disk: exactly-once grid, shard-local partners, resume, verify, subset reader."""

import csv
import hashlib
import os
import shutil
import signal
import string
import subprocess
import sys
import time
from itertools import product
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from datagen.fonts_manifest import DEFAULT_MANIFEST
from datagen.run_fonts import generate_fonts
from datagen.spec.fonts import ATTRIBUTES, FontsSpec, decode_index
from datagen.verify import verify_dataset
from zsdist.base.errors import DataError
from zsdist.data.fonts import FontsSelection, decode_rgb, read_fonts_table

# 4 letters x 3 sizes x 10 x 10 colours x 4 fonts = 4800 rows in 4 shards of 1200.
SPEC = FontsSpec(letters="ABgj", font_ids=(0, 3, 17, 42), letters_per_shard=2, fonts_per_shard=2)


def sha256s(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.glob("*.parquet"))}


@pytest.fixture(scope="module")
def generated(ray_cluster, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fonts") / "data"
    report = generate_fonts(SPEC, out, num_workers=2, progress=False)
    assert (report.written, report.images) == (4, 4800)
    return out


def test_every_combination_exactly_once(generated):
    assert verify_dataset(generated).ok
    table = pq.read_table(sorted(generated.glob("*.parquet")), columns=["index", *ATTRIBUTES, "blank"])
    combos = list(zip(*(table.column(name).to_pylist() for name in ATTRIBUTES)))
    assert len(combos) == len(set(combos)) == 4 * 3 * 10 * 10 * 4
    assert set(combos) == set(product(range(4), range(3), range(10), range(10), range(4)))
    # The global index is the mixed radix of the attribute indices: one lookup finds any combination.
    for index, combo in zip(table.column("index").to_pylist(), combos):
        assert tuple(decode_index(SPEC, index)) == combo
    blank = np.array(table.column("blank").to_pylist())
    assert np.array_equal(blank, np.array([c[2] == c[3] for c in combos]))


def test_every_shard_holds_a_partner_per_attribute(generated):
    """GZS-Net's guarantee: inside each shard, every non-blank image has, for every attribute, a
    non-blank partner sharing exactly that attribute's value."""
    for path in sorted(generated.glob("*.parquet")):
        table = pq.read_table(path, columns=[*ATTRIBUTES, "blank"])
        values = np.stack([table.column(a).to_numpy() for a in ATTRIBUTES], axis=1)[
            ~table.column("blank").to_numpy(zero_copy_only=False)]
        equal = values[:, None, :] == values[None, :, :]  # (n, n, 5)
        for k in range(len(ATTRIBUTES)):
            exactly_k = equal[:, :, k] & ~np.delete(equal, k, axis=2).any(axis=2)
            assert exactly_k.any(axis=1).all(), (path.name, ATTRIBUTES[k])


def test_pixels_carry_the_colours(generated):
    table = read_fonts_table(generated, FontsSelection(letters="B", fonts=(3,), sizes=("large",)))
    rgb = decode_rgb(table)
    colours = FontsSpec().colour_rgb
    for image, fg, bg in zip(rgb, table.column("font_colour").to_pylist(), table.column("background_colour").to_pylist()):
        assert tuple(image[0, 0]) == colours[bg]
        assert (image.reshape(-1, 3) == colours[fg]).all(axis=1).any()  # the glyph's solid interior


def test_subset_reader_opens_only_touched_shards(generated):
    table = read_fonts_table(generated, FontsSelection(letters="g", fonts=(0,), font_colours=("red", "blue")))
    # 1 letter x 3 sizes x 2 font colours x 10 backgrounds x 1 font, minus the 2 x 3 blank ones.
    assert table.num_rows == 54 and not any(table.column("blank").to_pylist())
    with pytest.raises(Exception, match="not in this dataset"):
        read_fonts_table(generated, FontsSelection(letters="z"))


def test_verify_names_a_corrupted_shard(generated, tmp_path):
    copy = Path(shutil.copytree(generated, tmp_path / "copy"))
    victim = sorted(copy.glob("*.parquet"))[2]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    report = verify_dataset(copy)
    assert not report.ok and any(p.startswith(f"{victim.name}: sha256") for p in report.problems)


@pytest.mark.slow
def test_killed_generation_resumes_to_the_same_bytes(ray_cluster, tmp_path):
    # 26 shards, so a kill after the first lands mid-run (the 4 shards of SPEC were all written within
    # one 50 ms poll on a quiet machine).
    spec = FontsSpec(letters=string.ascii_uppercase, font_ids=(0, 3, 17, 42), letters_per_shard=2, fonts_per_shard=2)
    out = tmp_path / "resumed"
    command = [sys.executable, "-m", "zsdist", "datagen", "fonts", "--letters", spec.letters, "--font_ids", "0,3,17,42",
               "--letters_per_shard", "2", "--fonts_per_shard", "2", "--num_workers", "1", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while len(list(out.glob("shard-*.parquet"))) < 1:
        assert process.poll() is None and time.time() < deadline, "no shard was written"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "_manifest.json").exists(), "the run ended before the kill: nothing was resumed"
    report = generate_fonts(spec, out, num_workers=2, progress=False)
    assert report.skipped >= 1 and report.skipped + report.written + report.rewritten == 26
    assert verify_dataset(out).ok
    reference = tmp_path / "reference"
    generate_fonts(spec, reference, num_workers=2, progress=False)
    assert sha256s(out) == sha256s(reference)  # same spec, same bytes, however the run was split


def test_bad_fonts_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(DataError, match="Andada Pro.*is not in"):
        generate_fonts(SPEC, tmp_path / "a", fonts_dir=tmp_path, progress=False)
    rows = list(csv.DictReader(DEFAULT_MANIFEST.open(), delimiter="\t"))
    rows[3]["sha256"] = "0" * 64
    manifest = tmp_path / "manifest.tsv"
    with manifest.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(DataError, match="sha256"):
        generate_fonts(SPEC, tmp_path / "b", font_manifest=manifest, progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_readable_by_ray_data_and_datasets(generated, tmp_path):
    import datasets
    import ray

    assert ray.data.read_parquet(str(generated)).count() == 4800
    files = sorted(str(p) for p in generated.glob("*.parquet"))
    hf = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    ours = pq.read_table(files[0]).slice(7, 1)
    assert hf[7]["index"] == ours.column("index")[0].as_py()
    assert np.array_equal(np.asarray(hf[7]["image"].convert("RGB")), decode_rgb(ours)[0])
