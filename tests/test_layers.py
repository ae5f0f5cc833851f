"""The package's layers, read from the source: errors -> images/data -> models/metrics -> export ->
inference -> evaluation -> training/analysis -> web/cli. A lower layer never imports a higher one, not
even inside a function, so what a module needs is readable from its file top and no import cycle
hides there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import esrgan

PACKAGE = Path(esrgan.__file__).parent
ABOVE_EXPORT = ("inference", "evaluation", "training", "analysis", "web", "cli")
ABOVE_MODELS = ("export", *ABOVE_EXPORT)
# a layer (a sub-package, or evaluation.py) -> the layers it must not import
FORBIDDEN = {
    "models": ABOVE_MODELS,
    "metrics": ABOVE_MODELS,
    "data": ABOVE_MODELS,
    "export": ABOVE_EXPORT,
    "evaluation": ("training", "analysis", "web", "cli"),
    "training": ("web", "cli"),
    "analysis": ("web", "cli"),
}


def layer_files(layer: str) -> list[Path]:
    single = PACKAGE / f"{layer}.py"
    return [single] if single.is_file() else sorted((PACKAGE / layer).rglob("*.py"))


def imported_modules(text: str, package: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file of `package`, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):  # a relative import is resolved against `package`
            base = package[: len(package) - node.level + 1] if node.level else ()
            found.append((node.lineno, ".".join([*base, *([node.module] if node.module else [])])))
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "esrgan" and len(parts) > 1 else None


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_never_imports_one_above_it(layer: str) -> None:
    files = layer_files(layer)
    assert files, f"no source for layer {layer}"
    upward = []
    for path in files:
        package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
        for line, name in imported_modules(path.read_text(encoding="utf-8"), package):
            if layer_of(name) in FORBIDDEN[layer]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name}")
    assert not upward, upward


def test_the_walk_sees_imports_inside_functions() -> None:
    """The check itself: a function-level and a relative import are both found, as absolute names."""
    text = "import esrgan\ndef f():\n    from esrgan.inference import upscale\n    from ..training import ema"
    names = [n for _, n in imported_modules(text, ("esrgan", "models"))]
    assert names == ["esrgan", "esrgan.inference", "esrgan.training"]
    assert [layer_of(n) for n in names] == [None, "inference", "training"]
