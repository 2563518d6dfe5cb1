"""The shape rules of CONTRIBUTING.md that a reviewer would otherwise check by eye.

No module of ``ichweb/`` or ``ml/`` over 600 lines; no function over 60 lines unless its docstring says
"Why it is long:". Migrations are generated and exempt.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
REASON = "Why it is long:"


def _modules() -> list[Path]:
    paths = [*ROOT.glob("ichweb/**/*.py"), *ROOT.glob("ml/**/*.py")]
    return sorted(p for p in paths if "migrations" not in p.parts)


def test_no_module_is_over_600_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these modules: {long}"


def test_no_function_is_over_60_lines_without_a_reason():
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES and REASON not in (ast.get_docstring(node) or ""):
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "split these functions or say in their docstring why they are long:\n" + "\n".join(long)
