"""chalicelib stays readable in pieces: no module over 400 lines, no function over 60 (AST only)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "chalicelib"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60


def oversized(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text()
        if source.count("\n") > MAX_MODULE_LINES:
            found.append(f"{path.relative_to(root.parent)}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno}: {node.name} is {length} lines")
    return found


def test_no_module_over_400_lines_and_no_function_over_60():
    assert oversized(ROOT) == []


def test_an_oversized_function_is_reported(tmp_path):
    (tmp_path / "long.py").write_text("def f():\n" + "    x = 1\n" * 60)
    (tmp_path / "short.py").write_text("def g():\n    return 1\n")
    assert oversized(tmp_path) == [f"{tmp_path.name}/long.py:1: f is 61 lines"]
