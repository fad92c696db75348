"""System metrics from Python: RUNLOG_SYSTEM_METRICS=1 samples a script's own run (outside `runlog exec` too), and
`run.start_system_metrics()` samples any run, from a real process that burns CPU and allocates memory."""

from __future__ import annotations

from pathlib import Path

import pytest

import runlog

from conftest import clean_env, cli_json, run_script


def test_the_environment_variable_samples_a_scripts_own_run(tmp_path: Path) -> None:
    p = run_script(tmp_path, """
        import time
        from runlog import Run
        run = Run.get_context()
        print(run.id, flush=True)
        block = bytearray(200 * 1024 * 1024)  # resident once touched
        for i in range(0, len(block), 4096):
            block[i] = 1
        end = time.time() + 1.0
        while time.time() < end:
            pass
        run.log("x", 1.0)
    """, env=clean_env(RUNLOG_SYSTEM_METRICS="1"))
    info = cli_json("--store", str(tmp_path / "runlog.db"), "show", p.stdout.split()[0], "--json")
    assert info["status"] == "completed"
    m = info["metrics"]
    # One sample at the least: the sampler's last one, taken when the run ends (the default interval is 10 s).
    assert m["system/process_memory_bytes"]["max"] > 150 * 1024 * 1024, m["system/process_memory_bytes"]
    assert m["system/process_cpu_percent"]["max"] > 20, m["system/process_cpu_percent"]
    assert m["system/memory_used_bytes"]["last"] > 0


def test_without_the_variable_there_are_no_system_series(tmp_path: Path) -> None:
    p = run_script(tmp_path, """
        from runlog import Run
        run = Run.get_context()
        run.log("x", 1.0)
        print(run.id)
    """)
    info = cli_json("--store", str(tmp_path / "runlog.db"), "show", p.stdout.strip(), "--json")
    assert not [k for k in info["metrics"] if k.startswith("system/")], info["metrics"]


def test_start_system_metrics_samples_at_its_interval_until_the_run_ends(exp: runlog.Experiment) -> None:
    import time

    run = exp.start_logging(outputs=None, capture_logging=False)
    run.start_system_metrics(interval_seconds=0.1)
    run.start_system_metrics(interval_seconds=0.1)  # a second call changes nothing
    time.sleep(0.8)
    run.complete()
    n = len(run.get_metrics("system/cpu_percent")["system/cpu_percent"])
    assert n >= 3, n
    time.sleep(0.3)
    assert len(run.get_metrics("system/cpu_percent")["system/cpu_percent"]) == n, "sampling stops with the run"


def test_a_too_short_interval_is_a_value_error_and_the_run_keeps_working(run: runlog.Run) -> None:
    with pytest.raises(ValueError, match=r"interval_seconds 0.01 is below the limit of 0.1 s"):
        run.start_system_metrics(interval_seconds=0.01)
    run.log("x", 2.0)
    assert run.get_metrics("x") == {"x": 2.0}
