"""The methods zsdist trains, each one folder under zsdist/methods/ with a `METHOD` in its __init__.

    from zsdist.methods import get_method
    get_method("polar-vae").train(cfg)        # what `zsdist train polar-vae` runs

The CLI's train / eval / tune subcommands, the jobs/ entry points, the search presets and `zsdist
compare`'s headline metrics all come from this registry; adding a method is its folder plus one line
in REGISTERED (docs/adding-a-method.md walks through it).
"""

from __future__ import annotations

import functools
from importlib import import_module
from typing import TYPE_CHECKING

from zsdist.base.errors import ConfigError

if TYPE_CHECKING:
    from zsdist.methods.method import Method

# One line per method: the package (its folder) whose __init__ defines METHOD.
REGISTERED = (
    "zsdist.methods.polar_vae",
    "zsdist.methods.gzsnet",
    "zsdist.methods.cadavae",
    "zsdist.methods.beta_vae",
    "zsdist.methods.beta_tcvae",
)


@functools.cache
def methods() -> dict[str, Method]:
    """Every registered method by its command name (`zsdist train <name>`), imported on first use."""
    found = {}
    for package in REGISTERED:
        method = import_module(package).METHOD
        if method.name in found:
            raise ValueError(f"two methods are named {method.name!r}: {package} and {found[method.name].name}'s")
        found[method.name] = method
    return found


def get_method(name: str) -> Method:
    """The method called `name`; a one-line ConfigError naming the known ones otherwise."""
    if name not in methods():
        raise ConfigError(f"no method {name!r}: pass one of {', '.join(methods())}")
    return methods()[name]

