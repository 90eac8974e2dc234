"""The import graph of ``sentry_image`` points one way and has no cycle.

Layers, lowest first: ``types``, ``config`` < ``imaging`` < ``data``, ``provenance``, ``explain`` < ``models`` <
``detect``, ``evaluate`` < ``train``, ``scale`` < ``serve`` < ``cli`` (the ``serve`` command). A module may import its
own package and any lower layer; never a higher one, never a sibling package of its own layer (``evaluate`` never
imports ``train``, ``data`` never imports ``models``, nothing imports ``serve`` or ``cli``). Every import counts,
including those inside functions (they run when the function does); only ``if TYPE_CHECKING:`` blocks are left
out. The graph is read from the source with ``ast``, so nothing is imported and a lazy import cannot hide.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "sentry_image"
LAYERS: dict[str, int] = {"types": 0, "config": 0, "imaging": 1, "data": 2, "provenance": 2, "explain": 2,
                          "models": 3, "detect": 4, "evaluate": 4, "train": 5, "scale": 5, "serve": 6, "cli": 7}
# Modules of the inference core: none may import a training package when it is imported (a function may, for an
# optional feature, behind a clear message: isotonic fits need scikit-learn, plots matplotlib, export torch).
TORCH_FREE = ("types", "config", "imaging", "provenance", "explain", "detect", "evaluate", "scale", "serve", "cli",
              "models.runtime", "models.calibration", "models.checkpoint", "models.onnx", "models.export",
              "models.registry", "data.preprocess", "data.splits", "data.manifest", "data.sources", "data.degrade",
              "data.shard", "data.scan", "data.verify", "data.metadata", "data.subsets", "data.archive")
HEAVY = {"torch", "timm", "torchvision", "open_clip", "safetensors", "sklearn", "matplotlib", "onnx", "ray",
         "pyarrow", "fastapi", "sqlalchemy", "huggingface_hub"}
OPTIONAL = {"serve": {"fastapi", "sqlalchemy"}, "scale": {"ray", "pyarrow"}}  # their own extras


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, top_only: bool = False) -> list[ast.Import | ast.ImportFrom]:
    """Import statements, minus ``if TYPE_CHECKING:`` blocks; ``top_only``: those run when the module is imported
    (not inside functions)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if top_only and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def _targets(module: str, path: Path, top_only: bool = False) -> tuple[set[str], set[str]]:
    """Internal modules ``module`` imports, and the top-level external packages it imports."""
    internal: set[str] = set()
    external: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in _imports(ast.parse(path.read_text(), str(path)), top_only):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # `from pkg import sub` imports the submodule; `from pkg import name` the package itself
            names = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in MODULES else stem for a in node.names]
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                if name in MODULES:
                    internal.add(name)
            else:
                external.add(name.split(".")[0])
    internal.discard(module)
    return internal, external


GRAPH = {module: _targets(module, path) for module, path in MODULES.items()}
ON_IMPORT = {module: _targets(module, path, top_only=True) for module, path in MODULES.items()}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = sorted(m for m in MODULES if _part(m) and _part(m) not in LAYERS and _part(m) != "weights")
    assert not unplaced, f"modules outside the layers of the architecture: {unplaced}"


def test_no_import_points_up_or_sideways() -> None:
    wrong = []
    for module, (internal, _) in GRAPH.items():
        here = _part(module)
        if not here:  # the package's face re-exports lazily and is imported by nothing inside it but cli
            continue
        for target in internal:
            there = _part(target)
            if not there:
                if here != "cli":
                    wrong.append(f"{module} -> {target} (the package root)")
                continue
            if there == here:
                continue
            if LAYERS[there] >= LAYERS[here]:
                wrong.append(f"{module} -> {target} ({here} is layer {LAYERS[here]}, {there} layer {LAYERS[there]})")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_import_graph_has_no_cycle() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def strongconnect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node][0]:
            if target not in index:
                strongconnect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            strongconnect(module)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("prefix", TORCH_FREE)
def test_the_inference_core_imports_no_training_package(prefix: str) -> None:
    """Importing a core module (and what it imports on import) loads no torch, timm, onnx, sklearn, matplotlib."""
    name = f"{PACKAGE}.{prefix}"
    modules = [m for m in MODULES if m == name or m.startswith(name + ".")]
    assert modules, f"no module {name}"
    allowed = OPTIONAL.get(prefix.split(".")[0], set())
    seen: set[str] = set()
    todo = list(modules)
    while todo:  # follow internal imports that run on import: the core is only as light as what it pulls in
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += [t for t in ON_IMPORT[module][0] if t not in seen]
    heavy = {m: sorted((ON_IMPORT[m][1] & HEAVY) - allowed) for m in seen if (ON_IMPORT[m][1] & HEAVY) - allowed}
    assert not heavy, f"importing {name} imports training packages: {heavy}"


def test_no_source_file_is_over_300_lines() -> None:
    long = {str(p.relative_to(SRC)): n for p in MODULES.values() if (n := len(p.read_text().splitlines())) > 300}
    assert not long, f"split these files: {long}"
