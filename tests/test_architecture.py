"""The one-way house (docs/architecture.md): imports run downward only, in no circle, and at
module level. Read from the source with ``ast``, so a new upward arrow fails here, not in review.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "mfile"

# What each package may import besides itself. ``mfile`` is the package root (``__version__``).
BASE = {"mfile", "diagnostics", "errors"}
ALLOWED: dict[str, set[str]] = {
    "mfile": set(),
    "diagnostics": set(),
    "errors": set(),
    "plan": BASE,
    "mfile_grammar": BASE,
    "slurm": BASE | {"plan"},
    "compiler": BASE | {"plan", "mfile_grammar"},
    "codegen": BASE | {"plan", "slurm"},
    "runtime": BASE | {"plan"},
    "itemlib": BASE | {"plan", "runtime"},
    "local": BASE | {"plan"},
    "lsp": BASE | {"plan", "mfile_grammar", "compiler"},
    "commands": BASE | {"plan", "slurm", "mfile_grammar", "compiler", "codegen", "runtime", "local", "lsp"},
    "cli": BASE | {"commands"},
    # The Python API (mfile.check, mfile.compile, ...): beside the commands, over every layer.
    "api": BASE | {"plan", "slurm", "mfile_grammar", "compiler", "codegen", "runtime", "local", "lsp", "commands"},
}
# Imports that may wait until a function needs them: heavy libraries of the runtime extra
# (and the itemlib modules that are thin wrappers of torch), each with a comment saying why.
LAZY_OK = {"torch", "xarray", "numpy", "pandas", "mpi4py", "dask", "netCDF4", "cfgrib", "iris_sample_data",
           "mfile.itemlib.nets", "mfile.itemlib.training",
           "mfile.lsp.server"}  # pygls: the optional extra mfile[lsp]


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        if rel.parts[1] == "items":  # item payloads: loaded by path inside jobs, not imported
            continue
        name = ".".join(rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts)
        found[name] = path
    return found


MODULES = _modules()


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "mfile"


def _target(module: str, node: ast.ImportFrom | ast.Import, alias: ast.alias) -> str:
    """The module an import statement loads (a submodule when ``from pkg import sub``)."""
    if isinstance(node, ast.Import):
        return alias.name
    base = node.module or ""
    if node.level:
        anchor = module.split(".")
        if MODULES[module].name != "__init__.py":
            anchor = anchor[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([node.module] if node.module else []))
    return f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


def _imports(module: str) -> list[tuple[str, int, bool, str]]:
    """(imported module, line, inside a function?, source line) for each import in ``module``."""
    path = MODULES[module]
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found: list[tuple[str, int, bool, str]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):  # never runs: names for type checkers and editors
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for alias in child.names:
                    found.append((_target(module, child, alias), child.lineno, in_function, lines[child.lineno - 1]))
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, inner)

    visit(ast.parse(text, str(path)), False)
    return found


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _internal(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _, _, _ in _imports(module):
            inner = _internal(target) if target.startswith("mfile") else None
            if inner and inner != module:
                graph[module].add(inner)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_every_package_has_a_rule() -> None:
    assert {_package(m) for m in MODULES} <= set(ALLOWED), "add the new package to ALLOWED and docs/architecture.md"


def test_no_import_circles() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_a_layer_above_it() -> None:
    upward = []
    for module, targets in _graph().items():
        package = _package(module)
        for target in targets:
            other = _package(target)
            if other != package and other not in ALLOWED[package]:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_imports_are_at_module_level() -> None:
    lazy = []
    for module in MODULES:
        lines = MODULES[module].read_text(encoding="utf-8").splitlines()
        for target, line, in_function, source in _imports(module):
            if not in_function:
                continue
            root = target.split(".")[0]
            commented = "#" in source or lines[line - 2].strip().startswith("#")
            # The CLI (and a command) may load a command's module only when it is used: `mfile
            # check` must not pay for codegen, jinja2 or the Slurm layer.
            command = module.startswith(("mfile.cli", "mfile.commands.")) and target.startswith("mfile.commands.")
            if (root in LAZY_OK or target in LAZY_OK or command) and commented:
                continue
            lazy.append(f"{module}:{line}: {source.strip()}")
    assert lazy == []


def test_the_registry_is_complete_from_diagnostics_alone() -> None:
    """A fresh interpreter that imports only mfile.diagnostics sees every code of every range."""
    code = "import mfile.diagnostics as d; print(' '.join(d.catalogue()))"
    codes = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    defined = set()
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["code"]:
                if isinstance(node.value, ast.Constant) and str(node.value.value)[:1] in "EW":
                    defined.add(node.value.value)
    assert set(codes) == defined - {"E000"}
    assert {c[:2] for c in codes} >= {"E0", "E1", "E2", "E3", "E4", "E5"}


@pytest.mark.parametrize("package", sorted(p for p in ALLOWED if (SRC / p).is_dir()))
def test_each_package_says_what_it_owns(package: str) -> None:
    doc = ast.get_docstring(ast.parse((SRC / package / "__init__.py").read_text(encoding="utf-8")))
    summary = (doc or "").split("\n\n")[0].splitlines()
    assert 1 <= len(summary) <= 2, f"{package}/__init__.py: open with two lines on what it owns and may import"
