"""A one-parameter study of a CADA-VAE recipe: every value of one config key, each over several seeds.

    python jobs/cadavae_study.py configs/cadavae_study_latent.yaml --data /data/cub [--seeds 2] [--epochs 50]

A study file (configs/cadavae_study_*.yaml) names a base preset, one dotted config key of
`zsdist train cadavae` and its values. Every value is a point: the base preset with that value, run
name `<run_name>-<last part of the key><value>` (cadavae-paper-latent_dim32), run through
zsdist/methods/cadavae/seeds.py, so each point has its seed runs and a summary MLflow run of their
mean and std. Flags override the base preset at every point. Rerunning resumes: finished seeds are not
trained again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from zsdist.base.errors import ConfigError
from zsdist.config import load_config
from zsdist.methods.cadavae.seeds import TABLE_COLUMNS, CADAVAESeedsConfig, SeedsSummary, cell, run_seeds


@dataclass(kw_only=True)
class CADAVAEStudyConfig:
    base: str = ""  # the preset every point starts from; a relative path is taken from the study file's folder
    parameter: str = ""  # a dotted config key, e.g. model.latent_dim
    values: tuple[str, ...] = ()  # converted to the key's type when each point's config is built

    def __post_init__(self) -> None:
        if not self.base or not self.parameter:
            raise ConfigError("a study file needs base (a preset file) and parameter (a config key such as "
                              "model.latent_dim): add them")
        if not self.values or len(set(self.values)) != len(self.values):
            raise ConfigError(f"study values {list(self.values)}: list each value of {self.parameter} once")


def study_points(study_file: str | Path, overrides: dict[str, Any] | None = None,
                 ) -> tuple[CADAVAEStudyConfig, list[tuple[str, CADAVAESeedsConfig]]]:
    """The study and the config of every point, (value, config) in the file's order; nothing runs."""
    study_file = Path(study_file)
    study = load_config(CADAVAEStudyConfig, file=study_file)
    overrides = dict(overrides or {})
    if study.parameter in overrides:
        raise ConfigError(f"--{study.parameter} is what the study varies: drop the flag or edit the study file")
    base = study_file.parent / study.base
    points = []
    for value in study.values:
        cfg = load_config(CADAVAESeedsConfig, file=base, overrides={**overrides, study.parameter: value})
        points.append((value, replace(cfg, run_name=f"{cfg.run_name}-{study.parameter.split('.')[-1]}{value}")))
    return study, points


def run_study(study_file: str | Path, overrides: dict[str, Any] | None = None,
              ) -> tuple[CADAVAEStudyConfig, list[tuple[str, SeedsSummary]]]:
    """Train and evaluate every point's seeds, in the file's order; returns each point's summary."""
    study, points = study_points(study_file, overrides)
    return study, [(value, run_seeds(cfg)) for value, cfg in points]


def study_table(study: CADAVAEStudyConfig, results: list[tuple[str, SeedsSummary]]) -> str:
    """One row per value: CADA-VAE's S, U, H, ZSL accuracy and ESZSL's H, each mean ± std over seeds."""
    columns = [*TABLE_COLUMNS, "eszsl H"]
    width = max(len(study.parameter), *(len(value) for value, _ in results)) + 2
    lines = [f"{study.parameter:<{width}}" + "".join(f"{column:<18}" for column in columns)]
    for value, summary in results:
        cells = [cell(summary, column) for column in TABLE_COLUMNS] + [cell(summary, "baseline/eszsl/H")]
        lines.append(f"{value:<{width}}" + "".join(f"{c:<18}" for c in cells))
    seeds = len(results[0][1].runs) if results else 0
    return "\n".join(lines + [f"(mean ± std over {seeds} seeds, ddof=1; one summary MLflow run per row)"])
