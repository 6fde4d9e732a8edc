"""Which kind of dataset a directory holds, so a command pointed at the wrong kind says so in one line.

zsdist makes three kinds: polar-curve images and Fonts images (`zsdist datagen polar|fonts`; the
manifest's "dataset" names them) and feature datasets (`zsdist datagen xlsa17|fontszsl`; the
manifest's "format"). Every command that reads a dataset checks the kind before anything else, so
the message names what was found, what was expected and how to make it, instead of a KeyError
from deep inside a reader.
"""

from __future__ import annotations

from pathlib import Path

from datagen.shards import read_manifest
from zsdist.base.errors import DataError
from zsdist.base.storage import RemotePath
from zsdist.data.features import FORMAT as FEATURES_FORMAT

KINDS = {
    "polar": "polar-curve images (made by `zsdist datagen polar`)",
    "fonts": "Fonts images (made by `zsdist datagen fonts`)",
    "features": "a feature dataset (made by `zsdist datagen xlsa17` or `zsdist datagen fontszsl`)",
}
_MAKE = {
    "polar": "zsdist datagen polar --out DIR",
    "fonts": "zsdist datagen fonts --out DIR",
    "features": "zsdist datagen xlsa17 XLSA17_DIR --out DIR",
}
# The generator command that read_manifest names when a directory holds no dataset at all.
_GENERATOR = {"polar": "polar", "fonts": "fonts", "features": "xlsa17 XLSA17_DIR"}


def dataset_kind(data_dir: Path | RemotePath | str, *, expected: str | None = None) -> str:
    """"polar", "fonts" or "features"; DataError if data_dir holds no finished dataset zsdist made."""
    manifest = read_manifest(data_dir, dataset=_GENERATOR.get(expected or ""))
    if manifest.get("format") == FEATURES_FORMAT:
        return "features"
    if (kind := manifest.get("dataset")) in KINDS:
        return kind
    raise DataError(f"{data_dir} holds a dataset zsdist does not know (kind {kind or manifest.get('format')!r}): "
                    "pass a directory made by `zsdist datagen polar|fonts|xlsa17|fontszsl`")


def require_kind(data_dir: Path | RemotePath | str, kind: str, command: str) -> None:
    """DataError unless data_dir holds a finished dataset of `kind`, the one `command` reads."""
    found = dataset_kind(data_dir, expected=kind)
    if found != kind:
        raise DataError(f"{data_dir} holds {KINDS[found]}, but `{command}` needs {KINDS[kind]}: pass --data a "
                        f"directory of that kind, or make one with `{_MAKE[kind]}`")


def make_command(kind: str) -> str:
    """The command that makes a dataset of `kind`, e.g. `zsdist datagen fonts --out DIR`."""
    return _MAKE[kind]
