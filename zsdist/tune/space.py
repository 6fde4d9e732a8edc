"""Search spaces: which config fields a search samples, and from what.

A space maps dotted config keys (the names of `zsdist train` flags) to a distribution, or to a plain
value that every trial gets:

    lr: {loguniform: [1.0e-4, 1.0e-2]}
    model.latent_dim: {choice: [32, 64, 128]}
    warmup.gamma_end: {randint: [30, 100]}      # integers, both ends included
    warmup.gamma_factor: {uniform: [0.5, 5.0]}
    warmup.gamma_start: 21                       # fixed for every trial
    model.latent_dim: {grid: [32, 64]}           # every value (with --search.searcher random)

`--space` takes a YAML/JSON file of that form or the name of a preset: each method's
`Search.space` (zsdist/methods/<name>/__init__.py). Presets are built
from the base config, so warm-up epochs scale with the run's epochs (the paper's schedule is for 100).
A scalar sampled for a tuple field fills every element (GZS-Net's chunk size: all chunks alike).
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml
from ray import tune

from zsdist.base.errors import ConfigError
from zsdist.config import from_dict, to_dict
from zsdist.methods import methods

DISTRIBUTIONS = {
    "uniform": lambda low, high: tune.uniform(low, high),
    "loguniform": lambda low, high: tune.loguniform(low, high),
    "randint": lambda low, high: tune.randint(low, high + 1),  # tune's upper end is exclusive
    "choice": lambda *values: tune.choice(list(values)),
    "grid": lambda *values: tune.grid_search(list(values)),  # every value, each num_samples times (random only)
}


def load_space(space: str, base: Any) -> dict[str, Any]:
    """The space spec named by `space` (a preset name or a file), checked against the base config."""
    presets = {name: method.search.space for name, method in methods().items()}
    if space in presets:
        spec = presets[space](base)
    else:
        path = Path(space).expanduser()
        if not path.is_file():
            raise ConfigError(f"search space '{space}' is neither a preset ({', '.join(presets)}) nor a file: "
                              "pass a preset name or a YAML file of `key: {distribution: [args]}`")
        spec = yaml.safe_load(path.read_text()) or {}
        if not isinstance(spec, dict) or not spec:
            raise ConfigError(f"search space file {path} must be a non-empty mapping of config keys")
    flat = set(_leaves(to_dict(base)))
    for key, value in spec.items():
        if key not in flat:
            raise ConfigError(f"search space key '{key}' is not a config field of {type(base).__name__}: "
                              "use dotted names as the train flags have them (e.g. model.latent_dim)")
        if isinstance(value, dict):
            if len(value) != 1 or next(iter(value)) not in DISTRIBUTIONS:
                raise ConfigError(f"search space key '{key}': give one of {', '.join(DISTRIBUTIONS)} "
                                  f"(e.g. {{loguniform: [1e-4, 1e-2]}}), got {value}")
            args = next(iter(value.values()))
            if not isinstance(args, list) or not args:
                raise ConfigError(f"search space key '{key}': the distribution's arguments must be a list")
    return spec


def param_space(spec: dict[str, Any]) -> dict[str, Any]:
    """Tune's param_space for a spec: dotted keys kept flat, distributions made Tune's."""
    out = {}
    for key, value in spec.items():
        if isinstance(value, dict):
            (name, args), = value.items()
            out[key] = DISTRIBUTIONS[name](*args)
        else:
            out[key] = value
    return out


def searched(spec: dict[str, Any]) -> list[str]:
    """The keys a search varies (its distributions), in the spec's order."""
    return [key for key, value in spec.items() if isinstance(value, dict)]


def apply_params(base: Any, params: dict[str, Any], **overrides: Any) -> Any:
    """The base config with the dotted params (and top-level overrides) set, validated again."""
    values = to_dict(base)
    for key, value in {**params, **overrides}.items():
        section = values
        *parents, leaf = key.split(".")
        for name in parents:
            section = section[name]
        if isinstance(section[leaf], list) and not isinstance(value, (list, tuple)):
            value = [value] * len(section[leaf])  # a scalar for a tuple field: every element
        section[leaf] = value
    return from_dict(type(base), values)


def _leaves(values: dict[str, Any], prefix: str = "") -> typing.Iterator[str]:
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"
