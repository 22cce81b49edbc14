"""The codebase's shape limits (issue 12): small modules, short functions, no import cycles.

These read the source, so they fail the moment a change grows a module past the limit, adds a
long function or a module-level import cycle, or puts `sys.path.insert` back.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def _sources(*dirs: str) -> list[Path]:
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return found


def _top_level_imports(path: Path, known: set[str]) -> set[str]:
    """Modules of `app` imported when `path` is imported (not inside functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()

    def visit(stmts: list[ast.stmt]) -> None:
        for node in stmts:
            if isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                out.add(base)
                out.update(f"{base}.{a.name}" for a in node.names)

    visit(tree.body)
    # importing a.b.c runs a and a.b first
    closed = set()
    for name in out:
        parts = name.split(".")
        closed.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {m for m in closed if m in known and m != me}


def test_no_module_in_app_is_over_the_line_limit() -> None:
    long = [f"{p.relative_to(ROOT)} ({n})" for p in _sources("app")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    assert long == [], f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_in_app_or_bench_is_over_the_line_limit() -> None:
    long = [f for p in _sources("app", "bench") for f in _long_functions(p)]
    assert long == [], f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_no_sys_path_insert_anywhere() -> None:
    me = Path(__file__).resolve()
    dirs = ("app", "bench", "tests", "migrations", "samples", "deploy")
    hits = [str(p.relative_to(ROOT)) for p in _sources(*dirs)
            if p != me and "sys.path.insert" in p.read_text()]
    assert hits == []


def test_no_module_level_import_cycle_in_app() -> None:
    paths = {_module_name(p): p for p in _sources("app")}
    graph = {m: _top_level_imports(p, set(paths)) for m, p in paths.items()}
    # A package's __init__ importing its own submodules is not a cycle of meaning: the submodule's
    # import of the package only needs the package object. Cycles between separate modules are.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if n.startswith(m + ".") or m.startswith(n + "."):
                continue  # parent package <-> its own submodule
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                dfs(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m)
    assert cycles == [], f"module-level import cycles: {cycles[:5]}"
