"""One peer tracker's logging loop, run by bench_log.py in the peers' own venv:

    python peers.py PEER NAMES STEPS DIR

Logs NAMES metrics x STEPS steps, one call per point (each peer's own per-point API), then the peer's flush or
finish, everything under DIR, and prints one JSON line: points, seconds, points_per_s.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    peer, names, steps, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    keys = [f"metric_{i}" for i in range(names)]
    if peer == "mlflow":
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{d}/mlflow.db")  # MLflow 3 default; the file store is refused
        mlflow.start_run()
        t0 = time.perf_counter()
        for step in range(steps):
            for k in keys:
                mlflow.log_metric(k, step * 0.001, step=step)
        mlflow.end_run()
    elif peer == "wandb":
        import wandb

        run = wandb.init(mode="offline", dir=d, project="bench")
        t0 = time.perf_counter()
        for step in range(steps):
            for k in keys:
                run.log({k: step * 0.001}, step=step)
        run.finish()
    elif peer == "tensorboardX":
        from tensorboardX import SummaryWriter

        w = SummaryWriter(os.path.join(d, "tb"))
        t0 = time.perf_counter()
        for step in range(steps):
            for k in keys:
                w.add_scalar(k, step * 0.001, step)
        w.close()
    elif peer == "trackio":
        import trackio

        os.environ.setdefault("TRACKIO_DIR", d)
        trackio.init(project="bench")
        t0 = time.perf_counter()
        for step in range(steps):
            for k in keys:
                trackio.log({k: step * 0.001}, step=step)
        trackio.finish()
    elif peer == "aim":
        import aim

        run = aim.Run(repo=d)
        t0 = time.perf_counter()
        for step in range(steps):
            for k in keys:
                run.track(step * 0.001, name=k, step=step)
        run.close()
    else:
        raise SystemExit(f"unknown peer {peer!r}")
    t = time.perf_counter() - t0
    n = names * steps
    print(json.dumps({"points": n, "seconds": t, "points_per_s": n / t}))


if __name__ == "__main__":
    main()
