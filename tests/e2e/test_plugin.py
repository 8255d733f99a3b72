"""The pytest plugin shipped with the package: docs/testing.md's example runs as written."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    """Installing casechain registers `casechain.testing` with pytest."""
    plugins = {e.name: e.value for e in entry_points(group="pytest11")}
    assert plugins.get("casechain") == "casechain.testing"


def test_the_documented_example_passes(tmp_path: Path) -> None:
    """The example test file of docs/testing.md passes in a fresh project folder."""
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "test_example.py").write_text(code, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_example.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout
