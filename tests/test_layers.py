"""The layers hold, and the check that says so can fail.

`make lint` runs import-linter with the contracts in pyproject.toml; these tests run the
same check on the real package and on copies with a forbidden import added, and look
for import cycles (run-time imports; `if TYPE_CHECKING:` ones are only for types).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_layers_hold() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("core/team/coordinator.py", "from ensemble_tui.tools import api", "ensemble_tui.tools"),
        ("core/models.py", "import textual", "textual"),
        ("core/store/store.py", "from ensemble_tui.core.team import feed", "core.team"),
    ],
)
def test_a_forbidden_import_breaks_the_check(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    shutil.copytree(
        ROOT / "ensemble_tui", tmp_path / "ensemble_tui", ignore=shutil.ignore_patterns("*.pyc")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "ensemble_tui" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout
    assert broken in done.stdout


def test_no_import_cycles() -> None:
    graph = grimp.build_graph("ensemble_tui", exclude_type_checking_imports=True)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if module in graph.find_upstream_modules(imported):
                cycles.append(f"{module} <-> {imported}")
    assert not cycles, cycles


_TEST_IMPORTS = """
import ast, sys
from pathlib import Path
root = Path(sys.argv[1])
for path in sorted((root / "tests").rglob("test_*.py")):
    for node in ast.walk(ast.parse(path.read_text())):
        names = (
            [node.module or ""] if isinstance(node, ast.ImportFrom)
            else [alias.name for alias in node.names] if isinstance(node, ast.Import)
            else []
        )
        for name in names:
            if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_"):
                print(f"{path.relative_to(root)} imports {name}")
"""


def test_modules_of_tests_never_import_each_other() -> None:
    """Helpers that several test modules use live in a conftest, where a reader looks for
    them; a test module is never the place another one takes a helper from.

    The modules are parsed in a process of their own: CPython 3.11's `ast` is not safe
    while another thread of this worker parses too (a clean-clone run failed here with
    "AST constructor recursion depth mismatch")."""
    result = subprocess.run(
        [sys.executable, "-c", _TEST_IMPORTS, str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = result.stdout.splitlines()
    assert found == []
