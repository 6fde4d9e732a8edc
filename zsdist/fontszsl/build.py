"""Fonts-ZSL: a zero-shot font classification benchmark made from a Fonts dataset, in the feature-dataset
format (zsdist/data/features.py) that CADA-VAE trains on.

    zsdist datagen fontszsl --data FONTS_DIR --out OUT [--seed 0] [--selection.letters ABab] [--epochs 3]

- Classes are the fonts in the dataset (after `selection`), floor(unseen_fraction x fonts) of them
  (at least 1) unseen by a seeded permutation, with the attributes of zsdist/fontszsl/attributes.py
  (standardised across the whole font manifest, so they do not depend on the dataset's other fonts).
- Rows are the non-blank images: per seen font a seeded test_seen_fraction is test_seen, the rest
  trainval; every unseen-font image is test_unseen.
- Features: FontBackbone (zsdist/fontszsl/backbone.py) is trained in this process on trainval
  images only (at most max_train_images, a seeded subset), then Ray Data actors holding the frozen
  model turn every selected image into its penultimate-layer feature, one shard per call, and predict
  its seen font, which gives the backbone's test_seen accuracy. Features are min-max scaled with bounds
  fitted on trainval rows (as zsdist/data/xlsa17.py does for ResNet features).
- The manifest's `scaling` records the request (config, Fonts dataset fingerprint, font manifest hash),
  the split, the backbone's training counts and accuracies and the attribute names. A rerun whose request matches a
  finished dataset in OUT returns at once; the same request on CPU writes the same bytes (seeded
  torch, fixed thread counts, rows in index order whatever order the actors finish in).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import ray.data
import torch
from torch.nn import functional as F

from datagen.fonts_manifest import DEFAULT_MANIFEST, file_sha256, load_manifest
from datagen.png import decode_image_column
from datagen.shards import MANIFEST_NAME, read_manifest
from zsdist.base.errors import ConfigError, DataError
from zsdist.base.ray_setup import init_ray
from zsdist.base.storage import RemotePath, location, parquet_dataset
from zsdist.base.workspace import default_dataset_dir
from zsdist.config import to_dict
from zsdist.data.features import FORMAT, write_feature_dataset
from zsdist.data.fonts import FontsSelection, box_downscale, downscale_factor, read_fonts_table, selected_files
from zsdist.data.kinds import require_kind
from zsdist.data.xlsa17 import apply_min_max, fit_min_max
from zsdist.fontszsl.attributes import CLIP_SD, RAW_NAMES, font_attributes
from zsdist.fontszsl.backbone import FontBackbone, FontBackboneConfig, to_model_input

# Independent seeded streams, so changing one step's draw count leaves the others' draws as they were.
_FONT_SPLIT, _ROW_SPLIT, _TRAIN_SUBSET, _TRAINING = range(4)


@dataclass(kw_only=True)
class FontsZSLConfig:
    data: str = ""  # the Fonts dataset directory (from `zsdist datagen fonts`)
    out: str = ""  # empty = <workspace>/data/fonts-zsl
    name: str = "fonts-zsl"  # the feature dataset's name in its manifest
    selection: FontsSelection = field(default_factory=FontsSelection)  # fonts, letters, sizes, colours to use
    seed: int = 0  # the font split, the row split, the training subset and the backbone's training
    unseen_fraction: float = 0.25  # of the fonts, rounded down, at least 1
    test_seen_fraction: float = 0.2  # of each seen font's images
    backbone: FontBackboneConfig = field(default_factory=FontBackboneConfig)
    epochs: int = 3  # backbone CNN training epochs on the seen fonts
    batch_size: int = 128  # backbone training batch size
    lr: float = 2e-3  # Adam learning rate of the backbone
    max_train_images: int = 20_000  # a seeded subset of trainval keeps CPU training short; 0 = all
    torch_threads: int = 2  # backbone training in this process
    inference_actors: int = 2  # Ray Data actors extracting features
    inference_cpus: float = 1.0  # per actor; each runs torch on one thread, so results never depend on it
    inference_batch_size: int = 512  # images per forward pass inside an actor
    font_manifest: str = ""  # the manifest the dataset was rendered with (default: the pinned 100)
    fonts_dir: str = ""  # directory of the manifest's font files (default: the installed font packages)
    accept_font_checksums: bool = False  # warn instead of failing when a font file's sha256 differs from the manifest

    def __post_init__(self) -> None:
        if self.selection.include_blank:
            raise ConfigError("selection.include_blank must be false: blank images (font colour == background "
                              "colour) show no font to classify")
        for name, value in (("unseen_fraction", self.unseen_fraction), ("test_seen_fraction", self.test_seen_fraction)):
            if not 0 < value < 1:
                raise ConfigError(f"{name} must be between 0 and 1 (got {value}): pass e.g. --{name} 0.25")
        for name in ("epochs", "batch_size", "torch_threads", "inference_actors", "inference_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1 (got {getattr(self, name)}): pass --{name} 1 or more")
        if self.max_train_images < 0 or self.lr <= 0 or self.inference_cpus <= 0:
            raise ConfigError(f"max_train_images must be >= 0 (0 = all), lr and inference_cpus > 0 (got "
                              f"{self.max_train_images}, {self.lr}, {self.inference_cpus}): pass valid values")


@dataclass(frozen=True)
class FontsZSLReport:
    out: Path | RemotePath
    reused: bool  # a finished dataset with the same request was already there
    counts: dict  # rows per split
    test_seen_accuracy: float  # the backbone's, over seen fonts
    seconds: float


def build_fonts_zsl(cfg: FontsZSLConfig) -> FontsZSLReport:
    """Make (or find finished) the Fonts-ZSL feature dataset of `cfg`."""
    start = time.perf_counter()
    if not cfg.data:
        raise ConfigError("data is empty: pass --data FONTS_DIR, a dataset made by `zsdist datagen fonts`")
    require_kind(cfg.data, "fonts", "zsdist datagen fontszsl")
    out = location(cfg.out) if cfg.out else default_dataset_dir("fonts-zsl")
    fonts_manifest = read_manifest(cfg.data, dataset="fonts")
    request = _request(cfg, fonts_manifest)
    if (finished := _finished(out, request)) is not None:
        accuracy = finished["scaling"]["backbone"]["test_seen_accuracy"]
        return FontsZSLReport(out, True, finished["counts"], accuracy, time.perf_counter() - start)

    description = fonts_manifest["spec"]
    manifest_path = Path(cfg.font_manifest) if cfg.font_manifest else None
    _check_same_fonts(cfg.data, description["fonts"], manifest_path)
    table = read_fonts_table(cfg.data, cfg.selection, columns=["index", "font", "image"])
    if table.num_rows == 0:
        raise DataError(f"the selection {cfg.selection} keeps no image of {cfg.data}: select more values")
    table = table.sort_by("index")
    font_ids = np.asarray(description["spec"]["font_ids"])[table.column("font").to_numpy()]
    class_ids, labels = np.unique(font_ids, return_inverse=True)
    seen, unseen = _split_fonts(len(class_ids), cfg)
    splits = _split_rows(labels, unseen, cfg)
    attributes = font_attributes(manifest_path, Path(cfg.fonts_dir) if cfg.fonts_dir else None,
                                 accept_font_checksums=cfg.accept_font_checksums)

    head = np.full(len(class_ids), -1)  # class -> backbone head index; -1 for the unseen fonts
    head[seen] = np.arange(len(seen))
    trainval = train_rows = np.flatnonzero(splits == "trainval")
    if cfg.max_train_images and len(trainval) > cfg.max_train_images:
        rng = np.random.default_rng([cfg.seed, _TRAIN_SUBSET])
        train_rows = np.sort(rng.choice(trainval, cfg.max_train_images, replace=False))
    downscale = downscale_factor(description["spec"]["resolution"], cfg.backbone.image_size)
    pixels = _pixels(decode_image_column(table.column("image"), rows=train_rows), downscale)
    model, loss = _train(pixels, torch.from_numpy(head[labels[train_rows]]), cfg)
    features, predictions = _extract(model, table.column("index").to_numpy(), cfg, downscale)

    accuracy = {split: float(np.mean(predictions[splits == split] == head[labels[splits == split]]))
                for split in ("trainval", "test_seen")}
    lo, hi = fit_min_max(features[trainval])
    backbone = {
        "train_images": len(train_rows),
        "train_fonts": np.unique(class_ids[labels[train_rows]]).tolist(),
        "train_images_of_unseen_fonts": int(np.isin(labels[train_rows], unseen).sum()),
        "final_loss": loss,
        **{f"{split}_accuracy": value for split, value in accuracy.items()},
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    scaling = {
        "method": "min-max per feature dimension", "fit_on": "trainval", "clipped": False,
        "constant_dims": int(np.count_nonzero(hi == lo)),
        "request": request,
        "split": {"seed": cfg.seed, "seen_fonts": class_ids[seen].tolist(), "unseen_fonts": class_ids[unseen].tolist()},
        "backbone": backbone,
        "attributes": {"names": list(attributes.attribute_names), "dropped_constant": list(attributes.dropped),
                       "standardised": f"z-score per column across the {len(attributes.font_ids)} manifest fonts, "
                                       f"clipped at +-{CLIP_SD}"},
    }
    families = {font["font_id"]: font["family"] for font in description["fonts"]}
    write_feature_dataset(
        out, name=cfg.name, features=apply_min_max(features, lo, hi), labels=labels, splits=splits,
        class_names=[families[font_id] for font_id in class_ids.tolist()],
        attributes=attributes.rows(class_ids.tolist()),
        source=f"Fonts dataset {location(cfg.data)} (fingerprint {request['data_fingerprint']}), "
               f"{cfg.backbone.feature_dim}-d FontBackbone features, font-file attributes",
        scaling=scaling,
    )
    counts = {split: int(np.count_nonzero(splits == split)) for split in ("trainval", "test_seen", "test_unseen")}
    return FontsZSLReport(out, False, counts, accuracy["test_seen"], time.perf_counter() - start)


def _request(cfg: FontsZSLConfig, fonts_manifest: dict) -> dict:
    """What the output depends on: the config (less where data and output live), the dataset's identity,
    the font manifest (every font in it shapes the standardised attributes) and which descriptors are
    measured, so a dataset built with other descriptors is rebuilt, not reused."""
    config = {key: value for key, value in to_dict(cfg).items() if key not in ("data", "out")}
    font_manifest = Path(cfg.font_manifest) if cfg.font_manifest else DEFAULT_MANIFEST
    return {"config": config, "data_fingerprint": fonts_manifest["fingerprint"],
            "font_manifest_sha256": file_sha256(font_manifest) if font_manifest.is_file() else "",
            "attributes": {"names": list(RAW_NAMES), "clip_sd": CLIP_SD}}


def _finished(out: Path | RemotePath, request: dict) -> dict | None:
    """The manifest of a complete feature dataset in `out` made for `request`, else None."""
    try:
        manifest = json.loads((out / MANIFEST_NAME).read_text())
        files = [*manifest["shards"], manifest["classes_file"]]
        complete = all((out / file["name"]).stat().st_size == file["bytes"] for file in files)
        same = manifest["format"] == FORMAT and manifest["scaling"]["request"] == json.loads(json.dumps(request))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return manifest if complete and same else None


def _check_same_fonts(data: str, dataset_fonts: list[dict], manifest_path: Path | None) -> None:
    """The attributes must describe the fonts the images were rendered with."""
    pinned = {entry.font_id: entry for entry in load_manifest(manifest_path)}
    for font in dataset_fonts:
        entry = pinned.get(font["font_id"])
        if entry is None or entry.sha256 != font["sha256"]:
            raise DataError(f"{data} was rendered from font {font['family']!r} (id {font['font_id']}, sha256 "
                            f"{font['sha256'][:12]}...), which the font manifest does not pin: pass the "
                            "--font_manifest (and --fonts_dir) the dataset was rendered with")


def _split_fonts(classes: int, cfg: FontsZSLConfig) -> tuple[np.ndarray, np.ndarray]:
    """Seen and unseen class positions, each sorted."""
    unseen_count = max(1, int(classes * cfg.unseen_fraction))
    if classes - unseen_count < 2:
        raise ConfigError(f"{classes} font(s) leave {classes - unseen_count} seen font(s) after the unseen ones: "
                          "select at least 3 fonts (--selection.fonts) or lower --unseen_fraction")
    order = np.random.default_rng([cfg.seed, _FONT_SPLIT]).permutation(classes)
    return np.sort(order[unseen_count:]), np.sort(order[:unseen_count])


def _split_rows(labels: np.ndarray, unseen: np.ndarray, cfg: FontsZSLConfig) -> np.ndarray:
    """Per row: test_unseen for unseen fonts; per seen font a seeded test_seen_fraction, the rest trainval."""
    splits = np.where(np.isin(labels, unseen), "test_unseen", "trainval").astype("<U11")
    rng = np.random.default_rng([cfg.seed, _ROW_SPLIT])
    for label in np.unique(labels[splits == "trainval"]):
        rows = np.flatnonzero(labels == label)
        # Stratified, so every seen font keeps its share of trainval images (at least one).
        count = min(int(len(rows) * cfg.test_seen_fraction), len(rows) - 1)
        splits[rng.permutation(rows)[:count]] = "test_seen"
    if not np.any(splits == "test_seen"):
        raise ConfigError(f"test_seen_fraction {cfg.test_seen_fraction} leaves no test_seen image: raise it or "
                          "select more images per font")
    return splits


def _pixels(rgb: np.ndarray, downscale: int) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> the backbone's (N, 1, H / f, W / f) float32 input."""
    return to_model_input(torch.from_numpy(box_downscale(rgb.transpose(0, 3, 1, 2), downscale)))


def _train(pixels: torch.Tensor, targets: torch.Tensor, cfg: FontsZSLConfig) -> tuple[FontBackbone, float]:
    """Cross-entropy over the seen fonts with Adam; returns the model and the last epoch's mean loss."""
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.torch_threads)
    try:
        with torch.random.fork_rng(devices=[]):  # seeds the initial weights, leaves the caller's RNG alone
            torch.manual_seed(cfg.seed)
            model = FontBackbone(cfg.backbone, num_classes=int(targets.max()) + 1)
        optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        rng = np.random.default_rng([cfg.seed, _TRAINING])
        model.train()
        for _ in range(cfg.epochs):
            order, total = torch.from_numpy(rng.permutation(len(targets))), 0.0
            for batch in [b for b in order.split(cfg.batch_size) if len(b) > 1]:  # BatchNorm needs 2 images
                _, logits = model(pixels[batch])
                loss = F.cross_entropy(logits, targets[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
        return model.eval(), total / len(targets)
    finally:
        torch.set_num_threads(threads)


class _Extractor:
    """A Ray Data actor: the frozen backbone, applied to every selected image of one shard per call."""

    def __init__(self, state: dict, config: dict, num_classes: int, downscale: int, batch_size: int, row_filter):
        torch.set_num_threads(1)  # one thread everywhere: the same bits whichever actor takes a shard
        self.model = FontBackbone(FontBackboneConfig(**config), num_classes).eval()
        self.model.load_state_dict({name: torch.tensor(value) for name, value in state.items()})  # copies
        self.downscale, self.batch_size, self.row_filter = downscale, batch_size, row_filter

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        table = parquet_dataset(list(batch["path"])).to_table(columns=["index", "image"],
                                                                           filter=self.row_filter)
        features, predictions = [], []
        with torch.inference_mode():
            for start in range(0, table.num_rows, self.batch_size):
                chunk = table.column("image").slice(start, self.batch_size)
                feature, logits = self.model(_pixels(decode_image_column(chunk), self.downscale))
                features.append(feature.numpy())
                predictions.append(logits.argmax(dim=1).numpy())
        empty = np.zeros((0, self.model.config.feature_dim), np.float32)  # a shard whose selected rows are all blank
        return {"index": table.column("index").to_numpy(), "feature": np.concatenate(features or [empty]),
                "prediction": np.concatenate(predictions or [np.zeros(0, np.int64)])}


def _extract(model: FontBackbone, index: np.ndarray, cfg: FontsZSLConfig, downscale: int):
    """Features (N, D) float32 and seen-font predictions (N,) of the rows with these sorted indices."""
    init_ray()
    files, row_filter = selected_files(cfg.data, cfg.selection)
    paths = ray.data.from_items([{"path": str(path)} for path in files], override_num_blocks=len(files))
    state = {name: value.detach().numpy().copy() for name, value in model.state_dict().items()}
    extracted = paths.map_batches(
        _Extractor,
        fn_constructor_kwargs={"state": state, "config": to_dict(cfg.backbone), "num_classes": model.head.out_features,
                               "downscale": downscale, "batch_size": cfg.inference_batch_size,
                               "row_filter": row_filter},
        batch_size=1,  # one shard per call
        compute=ray.data.ActorPoolStrategy(size=cfg.inference_actors),
        num_cpus=cfg.inference_cpus,
    )
    batches = list(extracted.iter_batches(batch_size=None, batch_format="numpy"))
    found = np.concatenate([b["index"] for b in batches])
    order = np.argsort(found)
    if not np.array_equal(found[order], index):
        raise DataError(f"{cfg.data} changed while features were extracted: rerun the same command")
    return (np.concatenate([b["feature"] for b in batches])[order],
            np.concatenate([b["prediction"] for b in batches])[order])
