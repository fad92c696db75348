"""The installed package type-checks under mypy --strict, stubs of the compiled module included, and a user's script
written against Azure's API type-checks against it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import runlog


def mypy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_the_installed_package_passes_mypy_strict(tmp_path: Path) -> None:
    pkg = os.path.dirname(runlog.__file__)
    assert os.path.exists(os.path.join(pkg, "py.typed")) and os.path.exists(os.path.join(pkg, "_runlog.pyi"))
    p = mypy("-p", "runlog", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr


def test_a_users_script_type_checks_and_a_wrong_call_does_not(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(
        "from runlog import Experiment, Run, Workspace\n"
        "run: Run = Experiment(workspace=Workspace.from_config(), name='e').start_logging()\n"
        "run.log('loss', 0.5, description='d', step=3)\n"
        "run.log_row('eval', epoch=1, acc=0.9)\n"
        "run.log_table('t', {'a': [1, 2]})\n"
        "run.upload_file('f', 'path.txt')\n"
        "m: dict[str, object] = run.get_metrics()\n"
        "run.complete()\n"
    )
    assert mypy("good.py", cwd=tmp_path).returncode == 0
    (tmp_path / "bad.py").write_text("from runlog import Run\nRun.get_context().log_table('t', 3)\n")
    p = mypy("bad.py", cwd=tmp_path)
    assert p.returncode == 1 and 'Argument 2 to "log_table" of "Run" has incompatible type "int"' in p.stdout, p.stdout
