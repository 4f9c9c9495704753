"""The architecture holds: the import-linter contracts, no import circles, small files and functions."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("linreg", "export", "bench")
MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 60
WHY_LONG = "# long because:"  # a file or function over the limit says why, at its top


def test_import_linter_contracts_are_kept() -> None:
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0, \
        "lint-imports found a broken contract (run .venv/bin/lint-imports for the chain)"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_the_import_graph_has_no_circle() -> None:
    """Every import counts, function-local ones too: a lazy import does not hide a circle."""
    import grimp

    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(edges) == [], "import circles (each list imports itself round)"


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _long_functions(tree: ast.AST, lines: list[str]) -> list[tuple[str, int, int]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
            top = "\n".join(lines[node.lineno - 1:node.lineno + 3])
            if length > MAX_FUNCTION_LINES and WHY_LONG not in top:
                out.append((node.name, node.lineno, length))
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_files_and_functions_stay_small(package: str) -> None:
    too_long = []
    for path in sorted((ROOT / package).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        where = path.relative_to(ROOT)
        if len(lines) > MAX_FILE_LINES and WHY_LONG not in "\n".join(lines[:15]):
            too_long.append(f"{where}: {len(lines)} lines")
        too_long += [f"{where}:{line} {name}(): {n} lines"
                     for name, line, n in _long_functions(ast.parse(text), lines)]
    assert not too_long, f"over {MAX_FILE_LINES} lines a file or {MAX_FUNCTION_LINES} a function " \
        f"(say why with '{WHY_LONG}' at its top, or split it): {too_long}"


def test_import_bench_stays_light() -> None:
    """`import bench` and the CLI's parser must not drag in matplotlib or onnxruntime."""
    import subprocess

    code = ("import sys, bench.cli; bench.cli.build_parser(); "
            "print(','.join(m for m in ('matplotlib', 'onnxruntime', 'onnx') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported at CLI start: {done.stdout.strip()}"
