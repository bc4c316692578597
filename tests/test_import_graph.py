"""The package's import graph has no cycle: arrows point down.

The rule: no module of ``azfunc_telemetry`` imports, directly or through other modules of the
package, a module that imports it back. Every ``import`` statement that runs counts, wherever it
stands: at module level, and inside a function (a deferred import still runs, later; it only
hides the cycle until then). Imports under ``if TYPE_CHECKING:`` never run and are left out:
types that refer to each other, such as the nodes of one syntax tree split over two modules,
may name each other for the type checker. Importing ``a.b.c`` also runs the packages ``a.b``
and ``a``, so it counts as importing each of them too, except a package the importer lies in
(it is already running) and the root package ``azfunc_telemetry``, the public facade whose
``__init__`` re-exports everything and which no module imports. What a lower layer needs from
above is handed to it at run time (a callable, an object), never imported.

The graph is read statically with :mod:`ast`, so code that is never run is checked too.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

import azfunc_telemetry

PACKAGE = Path(azfunc_telemetry.__file__).parent
ROOT = "azfunc_telemetry"


class Edge(NamedTuple):
    """One import: ``importer`` imports ``imported``, at ``line``, of ``kind``."""

    importer: str
    imported: str
    line: int
    kind: str  # "module", "function" or "type-checking"


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    modules: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = [ROOT, *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _absolute(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute name a (possibly relative) ``from ... import`` refers to."""
    if not level:
        return module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module of the package that ``name`` is or lies in, if any."""
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in modules and name.startswith(ROOT) else None


def _runs(importer: str, name: str) -> list[str]:
    """``name`` and every package above it that importing it runs, other than the root and
    the packages ``importer`` itself lies in (those are already running when it runs)."""
    parts = name.split(".")
    parents = [".".join(parts[:end]) for end in range(len(parts) - 1, 1, -1)]
    return [name] + [p for p in parents if not importer.startswith(p + ".")]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_edges() -> list[Edge]:
    """Every import between modules of the package."""
    modules = _modules()
    edges: list[Edge] = []

    def visit(node: ast.AST, importer: str, is_package: bool, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            child_kind = kind
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                child_kind = "function" if kind == "module" else kind
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    visit(
                        ast.Module(body=[statement], type_ignores=[]),
                        importer,
                        is_package,
                        "type-checking",
                    )
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]), importer, is_package, kind)
                continue
            targets: list[str] = []
            line = getattr(child, "lineno", 0)
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(importer, is_package, child.level, child.module)
                # ``from . import runtime`` imports the module ``runtime``; ``from .x import y``
                # imports ``x`` (or ``x.y`` when that is a module).
                targets = [f"{base}.{alias.name}" for alias in child.names]
            for target in targets:
                module = _known(target, modules)
                if module is None:
                    continue
                for imported in _runs(importer, module):
                    if imported != importer:
                        edges.append(Edge(importer, imported, line, child_kind))
            visit(child, importer, is_package, child_kind)

    for name, path in sorted(modules.items()):
        visit(
            ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", "module"
        )
    return edges


def find_cycle(edges: list[Edge]) -> list[Edge] | None:
    """One cycle of ``edges`` (the edges around it, in order), or ``None``."""
    graph: dict[str, list[Edge]] = {}
    for edge in edges:
        graph.setdefault(edge.importer, []).append(edge)
    state: dict[str, str] = {}  # "open" while on the path, "done" once fully explored
    path: list[Edge] = []

    def explore(node: str) -> list[Edge] | None:
        state[node] = "open"
        for edge in graph.get(node, []):
            seen = state.get(edge.imported)
            if seen == "open":
                start = next(i for i, e in enumerate(path) if e.importer == edge.imported)
                return [*path[start:], edge] if path else [edge]
            if seen is None:
                path.append(edge)
                found = explore(edge.imported)
                if found is not None:
                    return found
                path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = explore(node)
            if found is not None:
                return found
    return None


def _describe(cycle: list[Edge]) -> str:
    return "\n".join(
        f"  {e.importer} imports {e.imported} (line {e.line}, {e.kind} import)" for e in cycle
    )


def test_the_package_has_no_import_cycle() -> None:
    """No module imports, through any chain of imports that run, a module that imports it."""
    edges = import_edges()
    assert len({e.importer for e in edges}) > 20, "the graph must cover the whole package"
    cycle = find_cycle([e for e in edges if e.kind != "type-checking"])
    assert cycle is None, "import cycle:\n" + _describe(cycle or [])


def test_the_cycle_finder_sees_cycles_of_each_kind() -> None:
    """The checker itself reports a module-level and a deferred import that close a cycle."""
    lower = Edge(f"{ROOT}.pipeline", f"{ROOT}.stats", 1, "module")
    for kind in ("module", "function"):
        back = Edge(f"{ROOT}.stats", f"{ROOT}.pipeline", 2, kind)
        assert find_cycle([lower, back]) == [lower, back]
    assert find_cycle([lower]) is None
    edges = import_edges()
    deferred = [e for e in edges if e.kind == "function"]
    typing_only = [e for e in edges if e.kind == "type-checking"]
    assert deferred, "deferred imports are part of the graph"
    assert typing_only, "type-checking imports are told apart from those that run"


#: The layers of the package, lowest first (docs/ARCHITECTURE.md draws them). A module may
#: import its own layer and the layers below it; what a lower layer needs from above is handed
#: to it at run time. The developer tools stand apart, on top: nothing a function app imports
#: may import them.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("settings", ("_version", "config", "connection", "diagnostics", "setting_kinds")),
    ("model", ("model",)),
    ("export", ("export",)),
    ("capture", ("capture",)),
    ("invocation", ("invocation",)),
    ("runtime", ("exits", "runtime", "signals")),
    ("developer tools", ("__main__", "ingestion", "local", "testing")),
)


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of ``module`` (a dotted name inside the package)."""
    top = module.split(".")[1]
    for index, (_, members) in enumerate(LAYERS):
        if top in members:
            return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def upward(edges: list[Edge]) -> list[Edge]:
    """The edges that point up: from a module to a layer above its own."""
    return [
        edge
        for edge in edges
        if edge.importer != ROOT
        and edge.imported != ROOT
        and layer_of(edge.imported) > layer_of(edge.importer)
    ]


def test_every_import_points_down_the_layers() -> None:
    """No module imports from a layer above its own, even lazily or for types only."""
    edges = import_edges()
    for module in _modules():
        if module != ROOT:
            layer_of(module)  # every module has its place
    wrong = upward(edges)
    assert not wrong, "imports that point up:\n" + "\n".join(
        f"  {e.importer} ({LAYERS[layer_of(e.importer)][0]}) imports {e.imported} "
        f"({LAYERS[layer_of(e.imported)][0]}), line {e.line}"
        for e in wrong
    )


def test_the_layer_check_sees_an_upward_import() -> None:
    """The check itself reports a model module importing the runtime, and passes the reverse."""
    up = Edge(f"{ROOT}.model.records", f"{ROOT}.runtime", 1, "function")
    down = Edge(f"{ROOT}.runtime", f"{ROOT}.model.records", 1, "module")
    assert upward([up, down]) == [up]
