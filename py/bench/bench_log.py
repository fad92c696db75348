"""Benchmarks of the Python package (issue 9): Python-loop logging, log_list of numpy, ns per call, import time.

    python py/bench/bench_log.py                  # runlog alone (plus the Python list-append floor)
    RUNLOG_PEERS_VENV=/path/to/venv python py/bench/bench_log.py   # and each peer installed in that venv

Peers (MLflow, W&B offline, tensorboardX, trackio, Aim) run in their own interpreter from RUNLOG_PEERS_VENV, each
with the same loop (names x steps, one call per point, then its own flush/finish), on fewer steps (they are 20x to
10,000x slower); a peer that is not installed there is listed as missing. Results are printed as a table and, with
--json FILE, written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def bench_runlog_loop(names: int, steps: int, store: str) -> dict[str, float]:
    import runlog

    run = runlog.Experiment(runlog.Workspace(store=store), "bench").start_logging(outputs=None, capture_logging=False)
    keys = [f"metric_{i}" for i in range(names)]
    log = run.log
    t0 = time.perf_counter()
    for step in range(steps):
        v = step * 0.001
        for k in keys:
            log(k, v)
    t_log = time.perf_counter() - t0
    run.flush()
    t_all = time.perf_counter() - t0
    run.complete()
    n = names * steps
    return {"points": n, "log_s": t_log, "total_s": t_all, "points_per_s": n / t_all}


def bench_list_append_floor(names: int, steps: int) -> dict[str, float]:
    """What a Python loop that calls a function appending each point to a list costs: the floor of any tracker."""
    out: list[tuple[str, int, float]] = []
    append = out.append

    def log(name: str, step: int, v: float) -> None:
        append((name, step, v))

    keys = [f"metric_{i}" for i in range(names)]
    t0 = time.perf_counter()
    for step in range(steps):
        v = step * 0.001
        for k in keys:
            log(k, step, v)
    t = time.perf_counter() - t0
    return {"points": names * steps, "total_s": t, "points_per_s": names * steps / t}


def bench_log_list(n: int, store: str, repeats: int = 5) -> dict[str, float]:
    import numpy as np

    import runlog

    run = runlog.Experiment(runlog.Workspace(store=store), "bench").start_logging(outputs=None, capture_logging=False)
    arr = np.random.default_rng(0).random(n)
    times, calls = [], []
    for i in range(repeats):
        t0 = time.perf_counter()
        run.log_list(f"list_{i}", arr)
        t1 = time.perf_counter()
        run.flush()
        times.append(time.perf_counter() - t0)
        calls.append(t1 - t0)
    run.complete()
    best = min(times)
    return {
        "points": n,
        "best_s": best,
        "median_s": statistics.median(times),
        "points_per_s": n / best,
        "call_best_s": min(calls),
        "call_points_per_s": n / min(calls),
    }


def bench_ns_per_call(store: str, calls: int = 200_000, rounds: int = 15) -> dict[str, float]:
    import runlog

    run = runlog.Experiment(runlog.Workspace(store=store), "bench").start_logging(outputs=None, capture_logging=False)
    log = run.log
    per_call = []
    empty = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            log("loss", 0.5)
        per_call.append((time.perf_counter_ns() - t0) / calls)
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            pass
        empty.append((time.perf_counter_ns() - t0) / calls)
    kw = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            log(name="loss", value=0.5)
        kw.append((time.perf_counter_ns() - t0) / calls)
    run.complete()
    return {
        "ns_per_call_median": statistics.median(per_call),
        "ns_loop_overhead_median": statistics.median(empty),
        "ns_per_call_keywords_median": statistics.median(kw),
    }


def bench_import(python: str, module: str, repeats: int = 15) -> float:
    """Time of `import module` in a fresh interpreter, in ms: the best of `repeats`, measured inside the child (so
    interpreter start-up and other processes' load do not count)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout) for _ in range(repeats)]
    return min(runs) * 1000


def run_peers(venv: str, names: int, steps: int) -> dict[str, dict[str, object]]:
    python = os.path.join(venv, "bin", "python")
    out: dict[str, dict[str, object]] = {}
    for peer in ("mlflow", "wandb", "tensorboardX", "trackio", "aim"):
        steps_for = {"mlflow": max(1, steps // 10_000), "aim": max(1, steps // 100)}.get(peer, max(1, steps // 20))
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run(
                [python, os.path.join(HERE, "peers.py"), peer, str(names), str(steps_for), d],
                capture_output=True, text=True, timeout=1800, cwd=d,
                env={**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"},
            )
        if p.returncode != 0:
            last = (p.stderr.strip().splitlines() or ["failed"])[-1]
            out[peer] = {"error": last}
            continue
        out[peer] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", type=int, default=10)
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--list-size", type=int, default=1_000_000)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    results: dict[str, object] = {"python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory() as d:
        results["runlog_loop"] = bench_runlog_loop(args.names, args.steps, os.path.join(d, "loop.db"))
        results["list_append_floor"] = bench_list_append_floor(args.names, args.steps)
        results["log_list_numpy"] = bench_log_list(args.list_size, os.path.join(d, "list.db"))
        results["ns_per_call"] = bench_ns_per_call(os.path.join(d, "ns.db"))
    results["import_ms"] = {"runlog": bench_import(sys.executable, "runlog")}
    venv = os.environ.get("RUNLOG_PEERS_VENV")
    if venv:
        results["peers"] = run_peers(venv, args.names, args.steps)

    loop = results["runlog_loop"]
    print(f"runlog, {args.names} names x {args.steps:,} steps from a Python loop, then flush: "
          f"{loop['points_per_s'] / 1e6:.2f}M points/s ({loop['total_s']:.2f} s)")
    floor = results["list_append_floor"]
    print(f"Python floor (a function appending a tuple to a list): {floor['points_per_s'] / 1e6:.2f}M points/s")
    ll = results["log_list_numpy"]
    print(f"log_list of a {args.list_size:,}-element numpy array, then flush: {ll['points_per_s'] / 1e6:.1f}M points/s "
          f"(best {ll['best_s'] * 1000:.1f} ms, median {ll['median_s'] * 1000:.1f} ms); the call alone: "
          f"{ll['call_points_per_s'] / 1e6:.0f}M points/s ({ll['call_best_s'] * 1000:.1f} ms)")
    ns = results["ns_per_call"]
    print(f"run.log(name, float): {ns['ns_per_call_median']:.0f} ns per call median "
          f"(loop overhead {ns['ns_loop_overhead_median']:.0f} ns; with keywords {ns['ns_per_call_keywords_median']:.0f} ns)")
    print(f"import runlog: {results['import_ms']['runlog']:.1f} ms")
    if venv:
        print("\npeers (same loop, fewer steps; ratio = runlog points/s / peer points/s):")
        for peer, r in results["peers"].items():
            if "error" in r:
                print(f"  {peer:13s} not measured: {r['error']}")
            else:
                ratio = loop["points_per_s"] / r["points_per_s"]
                print(f"  {peer:13s} {r['points_per_s'] / 1e3:9.1f}k points/s  ({r['points']:,} points)  runlog is {ratio:,.0f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
