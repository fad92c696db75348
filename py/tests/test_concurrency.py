"""Threads sharing a run, and processes forked while a store is open (PyTorch DataLoader workers, multiprocessing
with fork): the child gets a clear error on first use, the parent's file stays sound, nothing deadlocks."""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path

import runlog

from conftest import integrity


def test_threads_log_into_one_run(run: runlog.Run) -> None:
    n_threads, n = 8, 20_000
    barrier = threading.Barrier(n_threads)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(n):
            run.log(f"own-{t}", float(i))
            run.log("shared", float(t))
        run.log_row("rows", thread=t)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    run.flush()
    store = run._store
    for t in range(n_threads):
        steps, values, _ = store.series(run.id, f"own-{t}")
        assert steps == list(range(n)) and values == [float(i) for i in range(n)]
    steps, values, _ = store.series(run.id, "shared")
    assert sorted(steps) == list(range(n_threads * n)), "every shared point got its own step"
    assert sorted(set(values)) == [float(t) for t in range(n_threads)]
    assert sorted(run.get_metrics()["rows"]["thread"]) == list(range(n_threads))


def _child_tries(run: runlog.Run, store_path: str, other_store: str, w) -> None:
    """In the forked child: every use of the parent's handles must raise ForkedProcessError, quickly."""
    results = []
    for what, call in [
        ("log", lambda: run.log("from-child", 1.0)),
        ("log_row", lambda: run.log_row("r", a=1)),
        ("flush", lambda: run.flush()),
        ("read", lambda: run.get_metrics()),
        ("store", lambda: run._store.path),
        ("reopen", lambda: runlog.Experiment(runlog.Workspace(store=store_path), "x").start_logging(outputs=None)),
    ]:
        try:
            call()
            results.append(f"{what}: no error")
        except runlog.ForkedProcessError as e:
            results.append(f"{what}: ForkedProcessError: {e}")
        except Exception as e:  # noqa: BLE001
            results.append(f"{what}: {type(e).__name__}: {e}")
    # A different store file is the child's own and works.
    other = runlog.Experiment(runlog.Workspace(store=other_store), "child").start_logging(outputs=None,
                                                                                          capture_logging=False)
    other.log("ok", 1.0)
    other.complete()
    results.append(f"other store: {other.get_status()}")
    w.write("\n".join(results).encode())


def test_forked_child_gets_a_clear_error_and_the_parent_goes_on(run: runlog.Run, tmp_path: Path) -> None:
    for i in range(5000):
        run.log("before", float(i))  # a half-full buffer and a live writer thread at fork time
    store_path = str(run._store.path)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(r)
            with os.fdopen(w, "wb") as wf:
                _child_tries(run, store_path, str(tmp_path / "child.db"), wf)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as rf:
        out = rf.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, out
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    for what in ("log", "log_row", "flush", "read", "store"):
        assert lines[what].startswith("ForkedProcessError: this runlog handle was opened by process"), out
        assert f"cannot be used in process {pid}" in lines[what]
    assert lines["reopen"].startswith("ForkedProcessError: store ") and "was open in the parent" in lines["reopen"]
    assert lines["other store"] == "Completed"
    # The parent is unaffected: it keeps logging, ends, and the file is sound.
    for i in range(5000):
        run.log("after", float(i))
    run.complete()
    m = run.get_metrics()
    assert len(m["before"]) == 5000 and len(m["after"]) == 5000 and "from-child" not in m
    assert integrity(Path(run._store.path)) == "ok"


_POOL_RUN: runlog.Run | None = None


def _pool_worker(i: int) -> str:
    assert _POOL_RUN is not None
    try:
        _POOL_RUN.log("worker", float(i))
        return "logged"
    except runlog.ForkedProcessError:
        return "ForkedProcessError"


def test_multiprocessing_fork_pool_workers_neither_corrupt_nor_hang(run: runlog.Run) -> None:
    global _POOL_RUN
    _POOL_RUN = run  # inherited by the forked workers, as a DataLoader's dataset holds the run
    run.log("x", 1.0)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        results = pool.map(_pool_worker, range(4), chunksize=1)
    _POOL_RUN = None
    assert results == ["ForkedProcessError"] * 4
    run.log("x", 2.0)
    run.complete()
    assert run.get_metrics()["x"] == [1.0, 2.0]
    assert integrity(Path(run._store.path)) == "ok"


def test_a_forked_child_that_exits_normally_leaves_the_parents_run_alone(tmp_path: Path) -> None:
    from conftest import run_script

    p = run_script(tmp_path, """
        import os
        from runlog import Run
        run = Run.get_context()
        run.log("x", 1.0)
        pid = os.fork()
        if pid == 0:
            import sys
            sys.exit(0)  # a normal interpreter exit in the child: atexit hooks run there
        os.waitpid(pid, 0)
        run.log("x", 2.0)
        print(run.id)
    """)
    ws = runlog.Workspace(store=tmp_path / "runlog.db")
    r = runlog.Run(runlog.Experiment(ws, "script"), p.stdout.strip())
    assert r.get_status() == "Completed"
    assert r.get_metrics()["x"] == [1.0, 2.0]


def test_a_thread_waiting_for_a_full_writer_queue_lets_other_threads_run(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock, so the writer cannot commit; a thread logging fast fills the
    writer's queue (64 MiB) and then waits for room. That wait must not hold the GIL: the main thread keeps running,
    sees the logger stalled and lets the lock go. Were the GIL held, the main thread could never release the lock and
    the script would hang until the timeout. In a real process, so a hang is a failed test, not a hung suite."""
    import subprocess
    import sys
    import textwrap

    from conftest import clean_env

    script = tmp_path / "full_queue.py"
    script.write_text(textwrap.dedent("""
        import subprocess, sys, threading, time
        from runlog import Experiment, Workspace
        run = Experiment(workspace=Workspace(store="runlog.db"), name="gil").start_logging(
            outputs=None, capture_logging=False)
        run.log("x", 0.0)
        run.flush()
        # The write lock, held by another process (POSIX locks of one process never block each other): runlog's
        # writer waits for it, and never gives up.
        holder = subprocess.Popen([sys.executable, "-c", (
            "import sqlite3, sys; c = sqlite3.connect('runlog.db', isolation_level=None); c.execute('BEGIN IMMEDIATE');"
            "print('locked', flush=True); sys.stdin.readline(); c.execute('ROLLBACK')")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline() == "locked\\n"
        N = 4_000_000  # 96 MB of points: more than the queue holds
        progress = [0]

        def logger():
            for i in range(N):
                run.log("y", float(i))
                if i & 0xFFFF == 0:
                    progress[0] = i
            progress[0] = N

        t = threading.Thread(target=logger)
        t.start()
        still, last, ticks = 0, -1, 0
        while still < 6 and progress[0] < N:  # 0.3 s without progress: the logger waits for room
            time.sleep(0.05)
            ticks += 1
            p = progress[0]
            still = still + 1 if p == last else 0
            last = p
        print("stalled", still >= 6, "at", last, "ticks", ticks, flush=True)
        holder.communicate("go\\n", timeout=30)
        t.join()
        run.complete()
        print("points", [c for (n, _k, c, _d) in run._store.metrics(run.id) if n == "y"][0], flush=True)
    """))
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.split("\n")
    assert lines[0].startswith("stalled True at "), p.stdout  # the queue did fill: the wait was exercised
    assert int(lines[0].split()[3]) < 4_000_000
    assert lines[1] == "points 4000000", p.stdout  # nothing lost once the lock was gone
