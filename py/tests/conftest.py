"""Shared helpers: a temp store per test, running real Python scripts, and the installed `runlog` command."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import runlog

# The command installed by `pip install` beside this interpreter (py/test.sh puts the venv's bin first on PATH).
RUNLOG = shutil.which("runlog", path=os.path.dirname(sys.executable)) or shutil.which("runlog")


@pytest.fixture
def ws(tmp_path: Path) -> runlog.Workspace:
    """A workspace on a fresh store file in the test's temp directory."""
    return runlog.Workspace(store=tmp_path / "runlog.db")


@pytest.fixture
def exp(ws: runlog.Workspace) -> runlog.Experiment:
    return runlog.Experiment(workspace=ws, name="tests")


@pytest.fixture
def run(exp: runlog.Experiment):
    r = exp.start_logging(outputs=None, capture_logging=False)
    yield r
    if not r._ended:
        r.complete()


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without runlog's variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNLOG_")}
    env.update(extra)
    return env


def run_script(cwd: Path, code: str, *, env: dict[str, str] | None = None, name: str = "script.py",
               check: bool = True) -> subprocess.CompletedProcess[str]:
    """Writes `code` to cwd/name and runs it with this interpreter (a real process, a real script)."""
    path = cwd / name
    path.write_text(textwrap.dedent(code))
    p = subprocess.run([sys.executable, str(path)], cwd=cwd, env=env if env is not None else clean_env(),
                       capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"{name} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs the installed `runlog` command."""
    assert RUNLOG is not None, "the runlog command is not installed beside this interpreter"
    p = subprocess.run([RUNLOG, *args], cwd=cwd, env=env if env is not None else clean_env(),
                       capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"runlog {' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def cli_json(*args: str, **kw) -> object:
    return json.loads(cli(*args, **kw).stdout)


def integrity(path: Path) -> str:
    """SQLite's own consistency check of a store file ("ok" when sound)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as c:
        return c.execute("PRAGMA integrity_check").fetchone()[0]
