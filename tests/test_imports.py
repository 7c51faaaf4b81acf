"""The package has no import cycles among ``targetsel`` modules (Conventions: no two modules import each other).

Imports are read with :mod:`ast` from every module of ``src/targetsel``, at module level and inside
functions alike (a function-level import is still a dependency, only a later one). Imports under
``if TYPE_CHECKING:`` are left out: they never run. ``from pkg import name`` depends on the
submodule ``pkg.name`` when there is one, else on ``pkg/__init__.py``; importing ``pkg.mod`` is not
counted as depending on ``pkg/__init__.py`` (otherwise every package that re-exports its
submodules would be a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import targetsel

PACKAGE_DIR = Path(targetsel.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = ("targetsel", *path.relative_to(PACKAGE_DIR).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)  # the `else:` of a TYPE_CHECKING guard does run
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _resolve(node: ast.Import | ast.ImportFrom, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The ``targetsel`` modules one import statement of module ``name`` depends on."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in modules}
    base = node.module or ""
    if node.level:
        package = name if is_package else name.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    if base != "targetsel" and not base.startswith("targetsel."):
        return set()
    out = set()
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        out.add(sub if sub in modules else base)
    return {m for m in out if m in modules}


def import_graph() -> dict[str, set[str]]:
    """``{module: modules it imports}`` over the whole package."""
    modules = _modules()
    names = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        deps: set[str] = set()
        for node in _import_nodes(tree):
            deps |= _resolve(node, name, path.name == "__init__.py", names)
        graph[name] = deps - {name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
            visit(v)
    return sorted(found)


def test_graph_sees_module_and_function_level_imports() -> None:
    graph = import_graph()
    assert "targetsel.errors" in graph["targetsel.evaluate.answers"]  # module level
    assert "targetsel.evaluate.harness" in graph["targetsel.evaluate.core"]  # inside a function
    assert "targetsel.data" not in graph["targetsel.evaluate.answers"]  # under TYPE_CHECKING only


def test_cycle_finder_on_a_toy_graph() -> None:
    toy = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_cycles(toy) == [["a", "b", "c"]]


def test_evaluators_do_not_import_each_other() -> None:
    graph = import_graph()
    assert "targetsel.evaluate.core" not in graph["targetsel.evaluate.harness"]
    assert "targetsel.evaluate.generation" not in graph["targetsel.evaluate.harness"]


def _describe(graph: dict[str, set[str]], cycles: list[list[str]]) -> str:
    lines = []
    for component in cycles:
        members = set(component)
        lines.append("; ".join(f"{m} -> {', '.join(sorted(graph[m] & members))}" for m in component))
    return " | ".join(lines)


def test_evaluate_chat_and_demo_are_in_no_cycle() -> None:
    graph = import_graph()
    mine = ("targetsel.evaluate", "targetsel.chat", "targetsel.demo")
    tangled = [c for c in import_cycles(graph) if any(m == p or m.startswith(p + ".") for m in c for p in mine)]
    assert not tangled, _describe(graph, tangled)


def test_no_import_cycles() -> None:
    graph = import_graph()
    cycles = import_cycles(graph)
    assert not cycles, "import cycles among targetsel modules: " + _describe(graph, cycles)


def test_pipeline_stages_never_import_report() -> None:
    """Stages return data and ``report`` draws (Conventions): no module under data, store, represent,
    score, select or diagnose imports ``targetsel.report``, directly or through another module."""
    graph = import_graph()
    stages = tuple(f"targetsel.{s}" for s in ("data", "store", "represent", "score", "select", "diagnose"))

    def reaches_report(module: str) -> list[str]:
        seen, todo = {module}, [module]
        while todo:
            for dep in sorted(graph.get(todo.pop(), ())):
                if dep == "targetsel.report" or dep.startswith("targetsel.report."):
                    return [module, dep]
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return []

    found = [reaches_report(m) for m in sorted(graph) if m in stages or m.startswith(tuple(s + "." for s in stages))]
    assert not [f for f in found if f], [f for f in found if f]
