"""Typed configs filled from defaults, a YAML/JSON file and CLI flags, in that order of precedence.

Every config is a keyword-only dataclass whose `__post_init__` validates it; nested dataclasses are
sections (`model.latent_dim` on the command line, a `model:` mapping in a file). One field has one
name everywhere: the dataclass, the file, the flag (`--model.latent_dim`) and the MLflow param.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from zsdist.base.errors import ConfigError
from zsdist.config_help import field_comments

C = TypeVar("C")


def load_config(cls: type[C], *, file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> C:
    """Build `cls` from its defaults, then `file`, then `overrides` (flat dotted keys, e.g. from CLI)."""
    values: dict[str, Any] = {}
    if file is not None:
        values = _read_file(Path(file))
    for dotted, value in (overrides or {}).items():
        section = values
        *parents, leaf = dotted.split(".")
        for name in parents:
            section = section.setdefault(name, {})
            if not isinstance(section, dict):
                raise ConfigError(f"config key '{name}' is a value, not a section: remove '{dotted}'")
        section[leaf] = value
    return from_dict(cls, values)


def from_dict(cls: type[C], values: dict[str, Any], *, where: str = "") -> C:
    """Build a dataclass from a (possibly nested) mapping, converting strings to the field types."""
    if not isinstance(values, dict):
        raise ConfigError(f"config section '{where or cls.__name__}' must be a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(
            f"unknown config key '{key}' for {cls.__name__}: valid keys are {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, value in values.items():
        hint = typing.get_type_hints(cls)[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            # A section's defaults are its field's default (e.g. a model preset), not its class's.
            value = {**_section_default(fields[name]), **value}
        kwargs[name] = _convert(value, hint, key)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{cls.__name__}: {exc}") from None


def _section_default(f: dataclasses.Field) -> dict[str, Any]:
    if f.default_factory is not dataclasses.MISSING:
        return dataclasses.asdict(f.default_factory())
    if f.default is not dataclasses.MISSING and dataclasses.is_dataclass(f.default):
        return dataclasses.asdict(f.default)
    return {}


def to_dict(config: Any) -> dict[str, Any]:
    """The full resolved config as plain JSON-able data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def flatten(config: Any) -> dict[str, Any]:
    """Dotted keys -> leaf values (of a config or its dict form), the form MLflow params take."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = value

    walk("", config if isinstance(config, dict) else to_dict(config))
    return out


def add_config_flags(parser: argparse.ArgumentParser, cls: type, prefix: str = "", defaults: Any = None) -> None:
    """One `--dotted.name` flag per leaf field, its help the field's comment (zsdist/config_help.py);
    unset flags stay absent so the file/defaults win."""
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        name = f"{prefix}{f.name}"
        default = getattr(defaults, f.name) if defaults is not None else _default_value(f)
        if dataclasses.is_dataclass(hint):  # its fields' defaults are this field's default's values
            add_config_flags(parser, hint, prefix=f"{name}.", defaults=default)
            continue
        described = field_comments(cls).get(f.name, "")
        parser.add_argument(f"--{name}", dest=f"cfg:{name}", default=argparse.SUPPRESS, metavar=_metavar(hint),
                            help=f"{described} (default: {default})".lstrip())


def flags_to_overrides(args: argparse.Namespace) -> dict[str, str]:
    return {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg:")}


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist: pass an existing YAML or JSON file to --config")
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"config file {path} is not valid {path.suffix[1:] or 'YAML'}: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of config keys, got {type(data).__name__}")
    return data


def _convert(value: Any, hint: Any, key: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where=key)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in ("none", "null"))):
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}' must be one of {', '.join(map(str, args))} (got {value!r})")
        return value
    if origin is tuple:
        items = [s.strip() for s in value.split(",")] if isinstance(value, str) else list(value)
        item_type = args[0]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, item_type, key) for v in items)
        if len(items) != len(args):
            raise ConfigError(f"config key '{key}' needs {len(args)} comma-separated values (got {value!r})")
        return tuple(_convert(v, t, key) for v, t in zip(items, args))
    try:
        if hint is bool:
            return _to_bool(value)
        if hint in (int, float, str):
            if hint is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return hint(value)
    except ValueError:
        raise ConfigError(f"config key '{key}' must be {hint.__name__} (got {value!r})") from None
    return value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _metavar(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "{" + ",".join(map(str, typing.get_args(hint))) + "}"
    return getattr(hint, "__name__", "VALUE").upper()


def _default_value(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return "required"
