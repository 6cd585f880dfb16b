"""The package's shape: the import-linter layers hold, name every top-level part, no module imports the
package inside a function, and docs/architecture.md lists every module."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "charge_planner"


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["id"] == "layers"]
    return [name.strip() for layer in contract["layers"] for name in layer.split("|")]


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_import_contracts_hold():
    """`lint-imports` (import-linter) checks the layers of pyproject.toml over every import the
    package makes, at module level and inside functions."""
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.fail("lint-imports not found: install the dev extra (pip install -e '.[dev]')")
    run = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 kept, 0 broken" in run.stdout


def test_layers_name_every_top_level_part():
    """A new module or package must be placed in a layer, or the contract would not look at it."""
    parts = {f"charge_planner.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    parts |= {f"charge_planner.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert parts == set(_layers())


def _function_level_imports(path: Path) -> list[int]:
    tree = ast.parse(path.read_text())
    lines = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("charge_planner"):
                lines.append(node.lineno)
            elif isinstance(node, ast.Import) and any(a.name.startswith("charge_planner") for a in node.names):
                lines.append(node.lineno)
    return lines


def test_no_module_imports_the_package_inside_a_function():
    """Imports of the package's own modules sit at module level (or under TYPE_CHECKING), where the
    contract and a reader see them; none is hidden in a function to dodge a cycle."""
    found = {str(p.relative_to(ROOT)): n for p in _modules() if (n := _function_level_imports(p))}
    assert not found, found


def test_the_check_sees_a_hidden_import(tmp_path):
    mod = tmp_path / "m.py"
    mod.write_text("def f():\n    from charge_planner.pipeline import plan\n    return plan\n")
    assert _function_level_imports(mod) == [2]


def test_architecture_doc_lists_every_module():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    missing = [str(p.relative_to(PACKAGE)) for p in _modules()
               if p.name != "__init__.py" and f"`{p.relative_to(PACKAGE).as_posix()}`" not in doc]
    assert not missing, f"docs/architecture.md does not list {missing}"
    for layer in _layers():
        assert f"`{layer.removeprefix('charge_planner.')}" in doc, layer


def _private_imports_across_parts(text: str, part: str) -> list[str]:
    """Names with a leading underscore that a module of ``part`` (source ``text``) imports from another
    top-level part of the package."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("charge_planner."):
            continue
        if node.module.split(".")[1] == part:
            continue
        found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    return found


def test_no_module_imports_a_private_name_of_another_part():
    """What one part of the package (a layer of the contract) uses from another is public: a name with a
    leading underscore is private to its own part."""
    found = {str(p.relative_to(ROOT)): n for p in _modules()
             if (n := _private_imports_across_parts(p.read_text(), p.relative_to(PACKAGE).parts[0].removesuffix(".py")))}
    assert not found, found


def test_the_check_sees_a_private_import():
    text = "from charge_planner.outputs.write import TMP_PREFIX, _sha256\nfrom charge_planner.scenarios.x import _y\n"
    assert _private_imports_across_parts(text, "scenarios") == ["charge_planner.outputs.write._sha256"]


def test_every_error_class_lives_in_errors_py():
    """One place for the error tree: modules raise errors of charge_planner.errors and define none."""
    found = []
    for path in _modules():
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                (isinstance(b, ast.Name) and b.id.endswith(("Error", "Exception")))
                or (isinstance(b, ast.Attribute) and b.attr.endswith(("Error", "Exception")))
                for b in node.bases
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not found, found
