"""How runs end: `with` blocks, scripts that exit or raise, Run.get_context() with and without `runlog exec`, and the
outputs folder collected at completion."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import runlog

from conftest import clean_env, cli, cli_json, run_script


def test_with_block_completes(exp: runlog.Experiment) -> None:
    with exp.start_logging(outputs=None, capture_logging=False) as run:
        run.log("x", 1.0)
    assert run.get_status() == "Completed"


def test_exception_in_with_block_fails_the_run_with_its_text(exp: runlog.Experiment) -> None:
    with pytest.raises(ZeroDivisionError):
        with exp.start_logging(outputs=None, capture_logging=False) as run:
            run.log("x", 1.0)
            1 / 0
    assert run.get_status() == "Failed"
    assert run.get_details()["error"]["error"]["message"] == "ZeroDivisionError: division by zero"
    assert run.get_metrics() == {"x": 1.0}


def test_fail_with_text_and_cancel(exp: runlog.Experiment) -> None:
    a = exp.start_logging(outputs=None, capture_logging=False)
    a.fail("diverged at step 3")
    assert a.get_details()["error"]["error"]["message"] == "diverged at step 3"
    b = exp.start_logging(outputs=None, capture_logging=False)
    b.cancel()
    assert b.get_status() == "Canceled"


def test_script_that_just_ends_completes_its_context_run(tmp_path: Path) -> None:
    p = run_script(tmp_path, """
        from runlog import Run
        run = Run.get_context()
        for i in range(10_000):
            run.log("loss", 1.0 / (i + 1))
        print(run.id)
    """, name="fit.py")
    run_id = p.stdout.strip()
    info = cli_json("--store", str(tmp_path / "runlog.db"), "show", run_id, "--json")
    assert info["experiment"] == "fit"
    assert info["status"] == "completed"
    assert info["metrics"]["loss"]["count"] == 10_000


def test_uncaught_exception_fails_the_run_with_the_tracebacks_last_line(tmp_path: Path) -> None:
    p = run_script(tmp_path, """
        from runlog import Run
        run = Run.get_context()
        print(run.id, flush=True)
        run.log("x", 1.0)
        raise RuntimeError("out of memory at step 7")
    """, env=clean_env(RUNLOG_EXPERIMENT="crashy"), check=False)
    assert p.returncode == 1
    assert "RuntimeError: out of memory at step 7" in p.stderr  # the traceback is still printed
    info = cli_json("--store", str(tmp_path / "runlog.db"), "show", p.stdout.split()[0], "--json")
    assert info["experiment"] == "crashy"
    assert info["status"] == "failed"
    assert info["reason"] == "RuntimeError: out of memory at step 7"


def test_ctrl_c_in_a_script_cancels_its_context_run(tmp_path: Path) -> None:
    p = run_script(tmp_path, """
        from runlog import Run
        run = Run.get_context()
        print(run.id, flush=True)
        raise KeyboardInterrupt
    """, check=False)
    assert p.returncode != 0 and "KeyboardInterrupt" in p.stderr
    info = cli_json("--store", str(tmp_path / "runlog.db"), "show", p.stdout.split()[0], "--json")
    assert info["status"] == "cancelled"


@pytest.mark.parametrize(
    ("ending", "code", "status", "reason"),
    [
        ("sys.exit(3)", 3, "failed", "exit code 3"),
        ("exit(2)", 2, "failed", "exit code 2"),
        ("sys.exit('no data found')", 1, "failed", "no data found"),
        ("sys.exit(0)", 0, "completed", None),
        ("sys.exit()", 0, "completed", None),
    ],
)
def test_sys_exit_ends_the_context_run_by_its_status(
    tmp_path: Path, ending: str, code: int, status: str, reason: str | None
) -> None:
    p = run_script(tmp_path, f"""
        import sys
        from runlog import Run
        run = Run.get_context()
        print(run.id, flush=True)
        run.log("x", 1.0)
        {ending}
    """, check=False)
    assert p.returncode == code, p.stderr
    info = cli_json("--store", str(tmp_path / "runlog.db"), "show", p.stdout.split()[0], "--json")
    assert info["status"] == status
    assert info.get("reason") == reason
    assert info["metrics"]["x"]["last"] == 1.0


def test_sys_exit_in_another_thread_does_not_fail_the_context_run(tmp_path: Path) -> None:
    p = run_script(tmp_path, """
        import sys, threading
        from runlog import Run
        run = Run.get_context()
        t = threading.Thread(target=sys.exit, args=(5,))
        t.start(); t.join()
        print(run.id)
    """)
    info = cli_json("--store", str(tmp_path / "runlog.db"), "show", p.stdout.strip(), "--json")
    assert info["status"] == "completed", info


def test_sys_exit_in_a_with_block_ends_the_run_by_its_status(exp: runlog.Experiment) -> None:
    for code, status in [(0, "Completed"), (None, "Completed"), (4, "Failed")]:
        with pytest.raises(SystemExit):
            with exp.start_logging(outputs=None, capture_logging=False) as run:
                raise SystemExit(code)
        assert run.get_status() == status, code
    assert run.get_details()["error"]["error"]["message"] == "exit code 4"


def test_start_logging_run_left_open_completes_at_exit(tmp_path: Path) -> None:
    p = run_script(tmp_path, """
        from runlog import Experiment
        run = Experiment(name="nb").start_logging()
        run.log("x", 2.0)
        print(run.id)
    """)
    info = cli_json("--store", str(tmp_path / "runlog.db"), "show", p.stdout.strip(), "--json")
    assert info["status"] == "completed" and info["metrics"]["x"]["last"] == 2.0


def test_get_context_under_runlog_exec_attaches_to_the_handed_over_run(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(
        "import os\n"
        "from runlog import Run\n"
        "run = Run.get_context()\n"
        "assert run.id == os.environ['RUNLOG_RUN_ID'], (run.id, os.environ['RUNLOG_RUN_ID'])\n"
        "assert Run.get_context() is run\n"
        "run.log('acc', 0.75)\n"
        "run.log('stage', 'training')\n"
        "os.makedirs('outputs', exist_ok=True)\n"
        "open('outputs/model.bin', 'wb').write(b'weights')\n"
        "print('hello from the job')\n"
    )
    import sys

    store = tmp_path / "exec.db"
    cli("--store", str(store), "exec", "-e", "attached", "-n", "job", "--no-snapshot", "--", sys.executable, "job.py",
        cwd=tmp_path)
    info = cli_json("--store", str(store), "show", "attached/job", "--json")
    assert info["status"] == "completed"
    assert info["metrics"]["acc"]["last"] == 0.75
    assert [f["name"] for f in info["files"]] == ["outputs/model.bin"]
    assert any(line["message"] == "hello from the job" for line in info["log"])
    assert not (tmp_path / "runlog.db").exists(), "an attached script must not make its own store"
    ws = runlog.Workspace(store=store)
    r = runlog.Run(runlog.Experiment(ws, "attached"), info["id"])
    assert r.get_metrics()["stage"] == "training"


def test_get_context_under_runlog_exec_fails_when_the_script_raises(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("from runlog import Run\nRun.get_context().log('x', 1.0)\nraise SystemExit(3)\n")
    import sys

    store = tmp_path / "exec.db"
    p = cli("--store", str(store), "exec", "-e", "attached", "-n", "bad", "--no-snapshot", "--", sys.executable,
            "bad.py", cwd=tmp_path, check=False)
    assert p.returncode == 3
    info = cli_json("--store", str(store), "show", "attached/bad", "--json")
    assert info["status"] == "failed" and info["metrics"]["x"]["count"] == 1


def test_outputs_are_collected_at_completion_and_stored_once_per_content(
    tmp_path: Path, ws: runlog.Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    exp = runlog.Experiment(ws, "out")
    run = exp.start_logging(capture_logging=False)  # outputs="outputs", relative to the current directory
    (tmp_path / "outputs" / "nested").mkdir(parents=True)
    (tmp_path / "outputs" / "a.bin").write_bytes(b"same bytes" * 1000)
    (tmp_path / "outputs" / "nested" / "b.bin").write_bytes(b"same bytes" * 1000)
    (tmp_path / "outputs" / "c.txt").write_text("other")
    run.complete()
    assert run.get_file_names() == ["outputs/a.bin", "outputs/c.txt", "outputs/nested/b.bin"]
    second = exp.start_logging(capture_logging=False)
    second.complete()  # the unchanged folder again: new file records, no new bytes
    assert second.get_file_names() == run.get_file_names()
    with sqlite3.connect(f"file:{ws.store_path}?mode=ro", uri=True) as c:
        assert c.execute("SELECT count(*) FROM blobs").fetchone()[0] == 2
    assert (tmp_path / "got.bin").exists() is False
    run.download_file("outputs/nested/b.bin", output_file_path=tmp_path / "got.bin")
    assert (tmp_path / "got.bin").read_bytes() == b"same bytes" * 1000


def test_workspace_from_config_uses_runlog_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_STORE", str(tmp_path / "elsewhere.db"))
    ws = runlog.Workspace.from_config()
    assert ws.store_path == str(tmp_path / "elsewhere.db")
    run = runlog.Experiment(ws, "cfg").start_logging(outputs=None, capture_logging=False)
    run.complete()
    assert list(ws.experiments) == ["cfg"]
    assert runlog.Run.get(ws, run.id).get_status() == "Completed"
