"""Every piece of Ray's non-public API that zsdist uses is still there in the installed Ray.

zsdist/base/ray_internals.py is the only module that touches them; this test names the piece a Ray
upgrade moved, before a search or a run fails on it. The same pieces run for real in the searches of
tests/test_tune.py and the local clusters of every Ray Train test.
"""

import ast
from pathlib import Path

import ray

from zsdist.base import ray_internals

ROOT = Path(__file__).resolve().parents[1]


def test_the_ray_internals_zsdist_uses_are_all_in_the_installed_ray():
    assert ray_internals.missing() == [], (
        f"Ray {ray.__version__} moved what zsdist/base/ray_internals.py uses: {ray_internals.missing()}; "
        "update that module (its docstring says what each piece is for)")


def _root(node: ast.expr) -> str:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def ray_internal_uses(path: Path) -> list[str]:
    """`ray...._x` imports, underscore attributes reached from a name imported from Ray, `__mixins__`."""
    tree = ast.parse(path.read_text())
    from_ray, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            from_ray |= {(alias.asname or alias.name).split(".")[0] for alias in node.names
                         if alias.name.split(".")[0] == "ray"}
            found += [f"import {alias.name}" for alias in node.names if alias.name.startswith("ray") and "._" in alias.name]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ray":
            from_ray |= {alias.asname or alias.name for alias in node.names}
            if "._" in node.module:
                found.append(f"from {node.module} import ...")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (node.attr == "__mixins__" or (
                node.attr.startswith("_") and not node.attr.startswith("__") and _root(node) in from_ray)):
            found.append(f"line {node.lineno}: .{node.attr}")
    return found


def test_no_module_but_the_adapter_reaches_into_ray_internals():
    sources = [*(ROOT / "zsdist").rglob("*.py"), *(ROOT / "datagen").rglob("*.py"), *(ROOT / "jobs").rglob("*.py")]
    offenders = {str(path.relative_to(ROOT)): uses for path in sorted(sources)
                 if path.name != "ray_internals.py" and (uses := ray_internal_uses(path))}
    assert offenders == {}
    assert ray_internal_uses(ROOT / "zsdist/base/ray_internals.py"), "the check must see the adapter's own uses"
