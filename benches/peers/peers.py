#!/usr/bin/env python3
"""The Python trackers' local logging rates, for runlog's benchmarks to stand beside.

Each (variant, trial) runs in a fresh child process and a fresh temp directory, offline, telemetry off. The child
times its logging loop plus the final close/flush; the parent measures the bytes left on disk after the child exited
(what a user finds). Prints one JSON document: {"results": [{variant, workload, points, median_rate_per_s,
bytes_per_point}]}.

    python peers.py --points 100000 --trials 1 [--variants a,b] [--override mlflow_log_metric=2000]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

NAMES = 10
IMAGES = 100

# Each variant: (workload, code run in the child with `steps`, `tmp` and `imgs` defined; it returns when flushed).
VARIANTS = {
    "mlflow_log_metric": ("scalars", """
import mlflow
mlflow.set_tracking_uri("sqlite:///" + tmp + "/mlflow.db")
with mlflow.start_run():
    for s in range(steps):
        for n in range(NAMES):
            mlflow.log_metric(f"m{n}", s * 0.5, step=s)
"""),
    "mlflow_log_batch": ("scalars", """
import mlflow, time as t
from mlflow.entities import Metric
c = mlflow.MlflowClient("sqlite:///" + tmp + "/mlflow.db")
run = c.create_run(c.create_experiment("b"))
batch, ts = [], int(t.time() * 1000)
for s in range(steps):
    for n in range(NAMES):
        batch.append(Metric(f"m{n}", s * 0.5, ts, s))
        if len(batch) == 1000:
            c.log_batch(run.info.run_id, metrics=batch); batch = []
if batch:
    c.log_batch(run.info.run_id, metrics=batch)
c.set_terminated(run.info.run_id)
"""),
    "tbx_add_scalar": ("scalars", """
from tensorboardX import SummaryWriter
w = SummaryWriter(tmp + "/tb")
for s in range(steps):
    for n in range(NAMES):
        w.add_scalar(f"m{n}", s * 0.5, s)
w.close()
"""),
    "wandb_log": ("scalars", """
import wandb
r = wandb.init(mode="offline", dir=tmp, project="bench")
for s in range(steps):
    r.log({f"m{n}": s * 0.5 for n in range(NAMES)}, step=s)
r.finish()
"""),
    "trackio_log": ("scalars", """
import trackio
trackio.init(project="bench")
for s in range(steps):
    trackio.log({f"m{n}": s * 0.5 for n in range(NAMES)}, step=s)
trackio.finish()
"""),
    "aim_track": ("scalars", """
import aim
r = aim.Run(repo=tmp)
for s in range(steps):
    for n in range(NAMES):
        r.track(s * 0.5, name=f"m{n}", step=s)
r.close()
"""),
    "mlflow_log_image": ("images", """
import mlflow
mlflow.set_tracking_uri("sqlite:///" + tmp + "/mlflow.db")
with mlflow.start_run():
    for i, im in enumerate(imgs):
        mlflow.log_image(im, key="sample", step=i)
"""),
    "tbx_add_image": ("images", """
from tensorboardX import SummaryWriter
w = SummaryWriter(tmp + "/tb")
for i, im in enumerate(imgs):
    w.add_image("sample", im, i, dataformats="HWC")
w.close()
"""),
    "wandb_image": ("images", """
import wandb
r = wandb.init(mode="offline", dir=tmp, project="bench")
for i, im in enumerate(imgs):
    r.log({"sample": wandb.Image(im)}, step=i)
r.finish()
"""),
    "trackio_image": ("images", """
import trackio
trackio.init(project="bench")
for i, im in enumerate(imgs):
    trackio.log({"sample": trackio.Image(im)}, step=i)
trackio.finish()
"""),
    "aim_image": ("images", """
import aim
r = aim.Run(repo=tmp)
for i, im in enumerate(imgs):
    r.track(aim.Image(im), name="sample", step=i)
r.close()
"""),
}

CHILD = """
import os, sys, time
NAMES = {names}
steps, tmp = int(sys.argv[1]), sys.argv[2]
imgs = []
if {images}:
    import numpy as np
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (256, 256, 3), dtype=np.uint8) for _ in range({n_images})]
t0 = time.perf_counter()
{body}
print(time.perf_counter() - t0)
"""


def offline_env(tmp):
    env = dict(os.environ)
    env.update({
        "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true", "WANDB_DIR": tmp,
        "WANDB_CACHE_DIR": tmp + "/.wandb_cache", "WANDB_CONFIG_DIR": tmp + "/.wandb_config",
        "WANDB_DATA_DIR": tmp + "/.wandb_data", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": tmp + "/.hf", "TRACKIO_DIR": tmp + "/trackio", "GRADIO_ANALYTICS_ENABLED": "False",
        "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", "AIM_UI_TELEMETRY_ENABLED": "0",
        "HOME": tmp,
    })
    return env


def disk_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def one(variant, points):
    workload, body = VARIANTS[variant]
    n = IMAGES if workload == "images" else points
    code = CHILD.format(names=NAMES, images=workload == "images", n_images=IMAGES, body=body)
    with tempfile.TemporaryDirectory(prefix=f"peer-{variant}-") as tmp:
        out = subprocess.run([sys.executable, "-c", code, str(max(1, points // NAMES)), tmp], env=offline_env(tmp),
                             cwd=tmp, capture_output=True, text=True, timeout=3600)
        if out.returncode != 0:
            raise RuntimeError(f"{variant} failed: {out.stderr[-2000:]}")
        secs = float(out.stdout.strip().splitlines()[-1])
        return n / secs, disk_bytes(tmp) / n, workload, n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--override", default="", help="VARIANT=POINTS,... for the slow ones")
    a = ap.parse_args()
    override = dict((k, int(v)) for k, v in (kv.split("=") for kv in a.override.split(",") if kv))
    results = []
    for v in a.variants.split(","):
        rates, sizes = [], []
        for _ in range(a.trials):
            rate, size, workload, n = one(v, override.get(v, a.points))
            rates.append(rate)
            sizes.append(size)
        results.append({"variant": v, "workload": workload, "points": n,
                        "median_rate_per_s": statistics.median(rates), "bytes_per_point": statistics.median(sizes)})
        print(f"{v}: {results[-1]['median_rate_per_s']:.0f}/s", file=sys.stderr)
    json.dump({"results": results}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
