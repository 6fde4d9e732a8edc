"""Help text for config flags, from the comments beside the config fields.

A config field is documented where it is declared, by its trailing comment
(`epochs: int = 10  # passes over the training set`) or, failing that, by the comment lines right
above it. `--help` shows that text, so a flag is explained in the one place its meaning lives.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import io
import re
import tokenize

_FIELD = re.compile(r"^\s*(\w+)\s*:")


@functools.cache
def field_comments(cls: type) -> dict[str, str]:
    """Field name -> the comment that documents it, for `cls` and the dataclasses it extends."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # a subclass's comment wins over its base's
        if dataclasses.is_dataclass(klass) and klass.__dict__.get("__dataclass_fields__"):
            comments.update(_comments_in(klass))
    return comments


def _comments_in(klass: type) -> dict[str, str]:
    try:
        source = inspect.getsource(klass)
    except (OSError, TypeError):  # defined where no source is kept (an interactive session)
        return {}
    own = {f.name for f in dataclasses.fields(klass) if f.name in inspect.get_annotations(klass)}
    lines = source.splitlines()
    trailing: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            trailing[token.start[0] - 1] = token.string.lstrip("#").strip()
    found: dict[str, str] = {}
    for number, line in enumerate(lines):
        match = _FIELD.match(line)
        if not match or match[1] not in own or match[1] in found:
            continue
        if number in trailing and not line.lstrip().startswith("#"):
            found[match[1]] = trailing[number]
            continue
        above = []
        while number - 1 - len(above) >= 0 and lines[number - 1 - len(above)].lstrip().startswith("#"):
            above.append(lines[number - 1 - len(above)].strip().lstrip("#").strip())
        if above:
            found[match[1]] = " ".join(reversed(above))
    return found
