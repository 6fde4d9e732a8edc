"""The `zsdist` command: one subcommand per step; each builds a typed config and calls the library.

    zsdist datagen polar [--config spec.yaml] [--resolution 128] [--out DIR] [--num_workers 2]
    zsdist datagen fonts [--font_ids 0,1,2] [--resolution 64] [--out DIR]   # 1,560,000 images by default
    zsdist datagen fonts-v2 --config configs/fonts_v2_cpu.yaml --out DIR    # words, position, rotation, texture
    zsdist datagen verify DIR
    zsdist train polar-vae --data DIR [--config train.yaml] [--epochs 5] [--model.latent_dim 3]
    zsdist eval polar-vae --run_name polar-vae
    zsdist train gzsnet --data DIR --config configs/gzsnet_cpu.yaml   # GZS-Net + AE+DS on Fonts
    zsdist eval gzsnet --run_name gzsnet-cpu    # zero-shot synthesis vs ground truth, baselines, probes
    zsdist datagen xlsa17 DIR --out OUT          # res101.mat + att_splits.mat -> the feature-dataset format
    zsdist datagen xlsa17 CUB --out OUT --class_embedding CUB/sent_splits.mat   # other class embeddings
    zsdist datagen fontszsl --data FONTS_DIR --out OUT   # Fonts -> zero-shot font benchmark, same format
    zsdist train cadavae --data OUT [--epochs 100]
    zsdist train cadavae --config configs/cadavae_paper.yaml --data OUT --seeds 3   # train + evaluate 3 seeds
    zsdist eval cadavae --run_name cadavae       # S, U, H, ZSL and few-shot accuracy
    zsdist tune cadavae --data OUT --space cadavae --search.num_samples 12 --epochs 30 [--resume]
    zsdist compare --experiment cadavae --search cadavae-search [--plot trials.png]   # runs or trials, from MLflow
    zsdist augment --data DIR --config configs/augment_cpu.yaml   # GZS-Net synthesis as data augmentation
    zsdist demo            # generate, train 2 DDP workers for a few minutes, evaluate, print results

Config precedence: dataclass defaults < --config file (YAML or JSON) < flags. `-v` shows Ray's own
logs, which otherwise stay in the Ray session's log files behind one progress bar per phase. Bad input exits with
status 2 and one line naming the problem and the fix.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datagen.run_fonts_v2 import generate_fonts_v2
from datagen.spec.fonts import FontsSpec
from datagen.spec.fonts_v2 import FontsV2Spec
from datagen.spec.polar import PolarSpec
from datagen.verify import verify_dataset
from zsdist.base import tracking
from zsdist.base.console import quiet_library_logs, set_verbose
from zsdist.base.errors import UserInputError
from zsdist.base.storage import location
from zsdist.base.workspace import use_job_workspace
from zsdist.compare import CompareConfig, compare_runs, format_table, plot_comparison
from zsdist.config import add_config_flags, flags_to_overrides, load_config
from zsdist.data.xlsa17 import import_xlsa17
from zsdist.experiments.augmentation.config import AugmentConfig
from zsdist.fontszsl.build import FontsZSLConfig, build_fonts_zsl
from zsdist.methods import get_method, methods
from zsdist.methods.polar_vae.config import PolarTrainConfig
from zsdist.pipelines.datasets import generate_fonts_dataset, generate_polar_dataset
from zsdist.pipelines.demo import DEMO_TRAIN_DEFAULTS, run_demo
from zsdist.tune.config import tune_config


def _datagen_polar(args: argparse.Namespace, spec: PolarSpec) -> None:
    out, report = generate_polar_dataset(spec, args.out, num_workers=args.num_workers)
    print(f"polar dataset in {out}: {report.written} shards written, {report.skipped} already complete, "
          f"{report.images} images in {report.seconds:.1f} s")


def _datagen_fonts(args: argparse.Namespace, spec: FontsSpec) -> None:
    out, report = generate_fonts_dataset(spec, args.out, num_workers=args.num_workers, font_manifest=args.font_manifest,
                                            fonts_dir=args.fonts_dir, accept_font_checksums=args.accept_font_checksums)
    print(f"fonts dataset in {out}: {report.written + report.rewritten} shards written, {report.skipped} already "
          f"complete, {report.images} images in {report.seconds:.1f} s")


def _datagen_fonts_v2(args: argparse.Namespace, spec: FontsV2Spec) -> None:
    report = generate_fonts_v2(spec, location(args.out), num_workers=args.num_workers,
                               font_manifest=Path(args.font_manifest) if args.font_manifest else None,
                               fonts_dir=Path(args.fonts_dir) if args.fonts_dir else None,
                               accept_font_checksums=args.accept_font_checksums)
    print(f"fonts-v2 dataset in {args.out}: {report.written + report.rewritten} shards written, {report.skipped} "
          f"already complete, {report.images} images in {report.seconds:.1f} s")


def _datagen_verify(args: argparse.Namespace, _cfg: None) -> None:
    report = verify_dataset(args.dir)
    print(report)
    if not report.ok:
        sys.exit(1)


def _train(args: argparse.Namespace, cfg: Any) -> None:
    method = get_method(args.model)
    print(method.command(cfg) if method.command else method.train_and_describe(cfg))


def _eval(args: argparse.Namespace, cfg: Any) -> None:
    method = get_method(args.model)
    run_id, metrics, out_dir = method.evaluate(cfg)
    print(f"evaluation of '{cfg.run_name}' (MLflow run {run_id}) in {out_dir}:\n{method.format_headline(metrics)}\n"
          f"see them with: {tracking.ui_hint()}")


def _datagen_xlsa17(args: argparse.Namespace, _cfg: None) -> None:
    out = import_xlsa17(args.dir, args.out, class_embedding=args.class_embedding,
                        class_embedding_key=args.class_embedding_key)
    print(f"feature dataset in {out}")


def _datagen_fontszsl(args: argparse.Namespace, cfg: FontsZSLConfig) -> None:
    report = build_fonts_zsl(cfg)
    state = "already finished" if report.reused else f"built in {report.seconds:.1f} s"
    print(f"Fonts-ZSL feature dataset in {report.out} ({state}): {report.counts}; "
          f"backbone test_seen accuracy {report.test_seen_accuracy:.3f}")


def _tune(args: argparse.Namespace, cfg: Any) -> None:
    from zsdist.tune.search import run_search

    result = run_search(args.model, cfg, resume=args.resume)
    metric = get_method(args.model).search.metric
    print(f"search '{result.name}' (MLflow run {result.run_id}): {len(result.trials)} trials, "
          f"{sum(t['status'] == 'KILLED' for t in result.trials)} stopped early by ASHA\n"
          f"best {metric} {result.best_metric:.4f} with " + ", ".join(f"{k}={v}" for k, v in result.best_params.items())
          + "".join(f"\n  {k:<28} {v:.4f}" for k, v in result.test.items())
          + f"\ncompare the trials: zsdist compare --experiment {cfg.experiment} --search {result.name}"
          f"\nsee them with: {tracking.ui_hint()}")


def _compare(args: argparse.Namespace, cfg: CompareConfig) -> None:
    comparison = compare_runs(cfg)
    print(format_table(comparison))
    if cfg.plot:
        print(f"plot: {plot_comparison(comparison, cfg.plot)}")


def _augment(args: argparse.Namespace, cfg: AugmentConfig) -> None:
    from zsdist.experiments.augmentation.pipeline import run_augmentation

    summary = run_augmentation(cfg)
    generator = "reused (finished before)" if summary.generator_reused else "trained"
    print(f"{summary.table}\nexperiment '{cfg.run_name}' (MLflow run {summary.run_id}); generator run "
          f"'{cfg.generator.run_name}' {generator}; table in {summary.out_dir}\nsee them with: {tracking.ui_hint()}")


def _demo(args: argparse.Namespace, cfg: PolarTrainConfig) -> None:
    run_demo(cfg)


VERBOSE_HELP = ("show Ray's own logs (Train's controller and workers, Data) on the console; without it they "
                "stay in the Ray session's log files and the console shows one progress bar per phase")


def _font_flags(sub: argparse.ArgumentParser) -> None:
    """The flags of every dataset rendered from the pinned fonts."""
    sub.add_argument("--num_workers", type=int, default=2, help="Ray actors, each loading the fonts once")
    sub.add_argument("--font_manifest", default="", help="a manifest.tsv of your own fonts (default: the pinned 100)")
    sub.add_argument("--fonts_dir", default="", help="directory holding the manifest's font files")
    sub.add_argument("--accept_font_checksums", action="store_true",
                     help="warn instead of failing when a font file's sha256 differs from the manifest")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zsdist", description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(group: argparse._SubParsersAction, name: str, handler: Callable, help_text: str,
                config_cls: type | None = None, config_defaults: dict[str, Any] | None = None,
                ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
        sub.set_defaults(handler=handler, config_cls=config_cls, config_defaults=config_defaults or {})
        # Also after the subcommand (`zsdist train gzsnet -v`, and the jobs/ entry points).
        sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
        if config_cls is not None:
            sub.add_argument("--config", help="YAML or JSON file of config values (flags override it)")
            add_config_flags(sub, config_cls)
        return sub

    datagen = commands.add_parser("datagen", help="generate or verify datasets").add_subparsers(
        dest="dataset", required=True)
    sub = command(datagen, "polar", _datagen_polar, "render the polar-curve dataset into Parquet shards", PolarSpec)
    sub.add_argument("--out", default="", help="output directory (default: in the workspace)")
    sub.add_argument("--num_workers", type=int, default=2, help="parallel Ray render tasks (default: 2)")
    sub = command(datagen, "fonts", _datagen_fonts, "render the Fonts dataset (sub-grid Parquet shards)", FontsSpec)
    sub.add_argument("--out", default="", help="output directory (default: in the workspace)")
    _font_flags(sub)
    sub = command(datagen, "fonts-v2", _datagen_fonts_v2, "render Fonts-v2: words with position, rotation and "
                  "texture (sub-grid Parquet shards; a --config picks the values per attribute)", FontsV2Spec)
    sub.add_argument("--out", required=True, help="output directory, local or s3:// (reruns resume)")
    _font_flags(sub)
    sub = command(datagen, "xlsa17", _datagen_xlsa17,
                  "import an xlsa17 dataset (res101.mat + att_splits.mat; CUB, SUN, AWA1, AWA2, APY, FLO) into the "
                  "feature-dataset format; variables beyond features, labels, att and the *_loc splits are optional "
                  "(classes without allclasses_names are named class_000, ...)")
    sub.add_argument("dir", help="the directory holding res101.mat and att_splits.mat")
    sub.add_argument("--out", required=True, help="output directory")
    sub.add_argument("--class_embedding", metavar="FILE",
                     help="use this file's class embeddings instead of att_splits.mat's att, as stored: a .mat "
                          "(d x C or C x d, e.g. CUB's sent_splits.mat) or a C x d .npy")
    sub.add_argument("--class_embedding_key", metavar="KEY",
                     help="the variable of a --class_embedding .mat file to use (default: its only numeric "
                          "matrix, or att among several)")
    command(datagen, "fontszsl", _datagen_fontszsl, "build the Fonts-ZSL feature dataset (backbone features, "
            "font-file attributes, seen/unseen fonts) from a Fonts dataset (--data DIR --out OUT)", FontsZSLConfig)
    sub = command(datagen, "verify", _datagen_verify, "check a dataset's shards, counts and checksums")
    sub.add_argument("dir")

    train = commands.add_parser("train", help="train a method with Ray Train").add_subparsers(dest="model", required=True)
    evaluate = commands.add_parser("eval", help="evaluate a trained run").add_subparsers(dest="model", required=True)
    tune = commands.add_parser("tune", help="search hyperparameters with Ray Tune (ASHA, MLflow)").add_subparsers(
        dest="model", required=True)
    for name, method in methods().items():
        command(train, name, _train, method.train_help, method.command_config or method.train_config)
        command(evaluate, name, _eval, method.eval_help, method.eval_config)
        sub = command(tune, name, _tune, f"search {name}'s hyperparameters on its validation metric "
                      f"({method.search.metric}), then re-run the best config on test", tune_config(method))
        sub.add_argument("--space", dest="cfg:search.space", default=argparse.SUPPRESS, metavar="SPACE",
                         help=f"a preset ({', '.join(methods())}) or a YAML file; the same as --search.space")
        sub.add_argument("--resume", action="store_true", help="continue an interrupted search of the same name")
    command(commands, "compare", _compare, "a table (and a PNG plot) of an experiment's runs or of a search's "
            "trials, read back from MLflow (local store or MLFLOW_TRACKING_URI)", CompareConfig)
    command(commands, "augment", _augment, "GZS-Net's data-augmentation experiment on Fonts: a font classifier on "
            "real images, + standard augmentation, + GZS-Net or AE+DS synthesis of held-out combinations",
            AugmentConfig)
    command(commands, "demo", _demo, "the polar study end to end: datagen, 2-worker training, evaluation",
            PolarTrainConfig, DEMO_TRAIN_DEFAULTS)
    return parser


def parse(argv: list[str] | None = None, *, as_job: bool = False) -> tuple[argparse.Namespace, Any]:
    """All that `main` does before it runs anything: argv -> (args, the command's typed config or None).

    A bad flag exits with status 2 (argparse); a bad value or config file raises UserInputError.
    `as_job` (the jobs/ entry points) first keeps outputs out of the job's working directory.
    """
    args = build_parser().parse_args(argv)
    if args.verbose:
        set_verbose(True)
    quiet_library_logs()
    if as_job:
        use_job_workspace()
    if args.config_cls is None:
        return args, None
    overrides = {**args.config_defaults, **flags_to_overrides(args)}
    return args, load_config(args.config_cls, file=args.config, overrides=overrides)


def main(argv: list[str] | None = None, *, as_job: bool = False) -> None:
    """Run one subcommand; `as_job` (the jobs/ entry points) keeps outputs out of the working dir."""
    try:
        args, cfg = parse(argv, as_job=as_job)
        args.handler(args, cfg)
    except UserInputError as exc:
        print(f"zsdist: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"zsdist: interrupted; rerun the same command to resume ({tracking.ui_hint()} shows the runs)",
              file=sys.stderr)
        sys.exit(130)
