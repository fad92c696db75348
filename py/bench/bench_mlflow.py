"""MLflow through runlog (issue 10): ``mlflow.log_metric`` per call and ``MlflowClient.log_batch`` of 1,000 metrics,
through ``runlog:`` beside MLflow's own stores, side by side in one run.

    python py/bench/bench_mlflow.py                      # runlog:, sqlite:, file:
    python py/bench/bench_mlflow.py --server             # and, over HTTP, an MLflow server (scripts/mlflow-server.sh)
                                                         # beside runlog's own MLflow endpoint (`runlog ui`)

Every backend runs the same code in a fresh interpreter (this script with --child), with the same number of calls:
a fluent run, ``mlflow.log_metric(name, value, step=i)`` per call, then ``mlflow.end_run()`` (which waits until
everything is stored); then a run with ``--batches`` calls of ``MlflowClient.log_batch`` of 1,000 metrics each (built
before the clock starts). Times include the end of the run; each is the median of ``--repeat`` runs. Ratios are
MLflow's time over runlog's. Needs the full mlflow (its sqlite: store), not mlflow-skinny.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def child(uri: str, calls: int, batches: int, repeat: int) -> dict[str, float]:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench")
    # Warm up: the store is built and the experiment found before the clock starts.
    with mlflow.start_run():
        mlflow.log_metric("warmup", 0.0)
    per_call = []
    for _ in range(repeat):
        mlflow.start_run()
        t0 = time.perf_counter()
        for i in range(calls):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        mlflow.end_run()
        per_call.append((time.perf_counter() - t0) / calls)

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("bench").experiment_id
    now = int(time.time() * 1000)
    metrics = [[Metric(f"m{i % 100}", float(i), now + i, b * 10 + i // 100) for i in range(1000)]
               for b in range(batches)]
    per_batch = []
    for _ in range(repeat):
        run = client.create_run(experiment)
        t0 = time.perf_counter()
        for batch in metrics:
            client.log_batch(run.info.run_id, metrics=batch)
        client.set_terminated(run.info.run_id)
        per_batch.append((time.perf_counter() - t0) / batches)
        history = client.get_metric_history(run.info.run_id, "m7")
        assert len(history) == 10 * batches, len(history)
    return {"log_metric_us": statistics.median(per_call) * 1e6, "log_batch_ms": statistics.median(per_batch) * 1e3}


def run_child(backend: str, uri: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, float]:
    p = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", uri, "--calls", str(args.calls), "--batches",
         str(args.batches), "--repeat", str(args.repeat)],
        env=env, capture_output=True, text=True, timeout=3600,
    )
    if p.returncode != 0:
        raise SystemExit(f"{backend} failed:\n{p.stdout}\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=500, help="log_metric calls per backend (default 500)")
    ap.add_argument("--batches", type=int, default=5, help="log_batch calls of 1,000 metrics (default 5)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median is shown (default 3)")
    ap.add_argument("--server", action="store_true", help="also an MLflow server over HTTP (scripts/mlflow-server.sh)")
    ap.add_argument("--child", metavar="URI", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.calls, args.batches, args.repeat)))
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLOG_", "MLFLOW_"))}
    # MLflow 3 refuses its deprecated file store unless asked for it.
    env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    results: dict[str, dict[str, float]] = {}
    server_dir = None
    ui = None
    with tempfile.TemporaryDirectory(prefix="runlog-bench-mlflow-") as tmp:
        backends = {
            "runlog": f"runlog://{tmp}/runlog.db",
            "mlflow sqlite": f"sqlite:///{tmp}/mlflow.db",
            "mlflow file": f"file://{tmp}/mlruns",
        }
        try:
            if args.server:
                server_dir = os.path.join(tmp, "server")
                os.makedirs(server_dir)
                out = subprocess.run(["bash", os.path.join(REPO, "scripts", "mlflow-server.sh"), "start",
                                      str(free_port()), server_dir], capture_output=True, text=True, check=True)
                backends["mlflow server (HTTP)"] = out.stdout.strip().splitlines()[-1].split("=", 1)[1]
                ui = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "runlog"), "--store",
                                       f"{tmp}/ui.db", "ui", "--create", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                      text=True, env=env)
                assert ui.stdout is not None
                backends["runlog ui (HTTP)"] = ui.stdout.readline().split(" at ")[1].strip().rstrip("/")
            for name, uri in backends.items():
                results[name] = run_child(name, uri, args, env)
                print(f"  {name}: {results[name]}", file=sys.stderr)
        finally:
            if ui is not None:
                ui.terminate()
                ui.wait(timeout=30)
            if server_dir is not None:
                subprocess.run(["bash", os.path.join(REPO, "scripts", "mlflow-server.sh"), "stop", server_dir])
    import mlflow

    base = results["runlog"]
    print(f"mlflow {mlflow.__version__}, {args.calls} log_metric calls, {args.batches} log_batch calls of 1,000 "
          f"metrics, median of {args.repeat} runs, each backend in a fresh interpreter")
    print(f"{'backend':<22} {'log_metric µs/call':>20} {'x runlog':>10} {'log_batch ms/1,000':>20} {'x runlog':>10}")
    for name, r in results.items():
        print(f"{name:<22} {r['log_metric_us']:>20.1f} {r['log_metric_us'] / base['log_metric_us']:>10.1f} "
              f"{r['log_batch_ms']:>20.2f} {r['log_batch_ms'] / base['log_batch_ms']:>10.1f}")


if __name__ == "__main__":
    main()
