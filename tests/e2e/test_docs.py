"""The command examples in the README run as written."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def console_commands(markdown: Path) -> list[str]:
    """The `$ ...` lines of the ```console blocks of a Markdown file."""
    blocks = re.findall(r"```console\n(.*?)```", markdown.read_text(encoding="utf-8"), re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


@pytest.mark.slow
def test_the_readme_command_examples_run_in_order(tmp_path: Path) -> None:
    """Every `casechain` example of the README succeeds, in order, in an empty folder."""
    commands = console_commands(ROOT / "README.md")
    assert len(commands) >= 5
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "casechain"
        proc = subprocess.run([str(BIN / "casechain"), *argv[1:]], cwd=tmp_path,
                              capture_output=True, text=True, check=False, timeout=120)
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
    restored = (tmp_path / "restored.db").exists()
    assert restored
