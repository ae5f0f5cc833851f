"""The layers of esrgan.inference, read from the source (so imports no test runs count too).

inference sits under evaluation, training, analysis, web and the command line: it imports none of
them, even inside a function. Its imports of the package's own modules are at the file tops, so
the arrows can be read there; the few left inside functions are the ones listed below, each with
why, and a new one fails here until it is listed (or moved to the top).
"""

from __future__ import annotations

import ast
from pathlib import Path

import esrgan.inference

PACKAGE = Path(esrgan.inference.__file__).parent
ROOT = PACKAGE.parent.parent
ABOVE = ("esrgan.cli", "esrgan.web", "esrgan.training", "esrgan.analysis", "esrgan.evaluation")

# None left: the CLI parser takes its choices from esrgan.inference.choices, which imports nothing.
LAZY: dict[str, str] = {}


def _targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement names: `from esrgan.inference import backends` is
    esrgan.inference.backends, `from esrgan.inference.backends import on_backend` its module."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    module = node.module or ""
    found = []
    for alias in node.names:
        sub = ROOT.joinpath(*f"{module}.{alias.name}".split("."))
        found.append(f"{module}.{alias.name}" if sub.with_suffix(".py").is_file() or sub.is_dir() else module)
    return found


def _ours(name: str) -> bool:
    return name == "esrgan" or name.startswith("esrgan.")


def _imports(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, str]]:
    return [
        (node, name)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for name in _targets(node)
        if _ours(name)
    ]


def _modules() -> list[Path]:
    return sorted(PACKAGE.glob("*.py"))


def test_inference_imports_nothing_above_it():
    upward = [
        f"{path.name}:{node.lineno}: {name}"
        for path in _modules()
        for node, name in _imports(ast.parse(path.read_text(encoding="utf-8")))
        if name.startswith(ABOVE)
    ]
    assert not upward, upward


def test_imports_of_our_modules_inside_functions_are_the_listed_ones():
    found = set()
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found |= {f"{path.name}:{func.name} -> {name}" for _, name in _imports(func)}
    assert all(reason.strip() for reason in LAZY.values())
    assert sorted(found - LAZY.keys()) == [], "move it to the file's top, or list it in LAZY with why"
    assert sorted(LAZY.keys() - found) == [], "no longer imported inside the function: drop it from LAZY"
