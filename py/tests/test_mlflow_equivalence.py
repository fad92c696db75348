"""Lossless both ways (issue 10, part 3): one MLflow script logged (a) straight into a real MLflow tracking server and
(b) into a runlog store through ``runlog:``, then synced out with ``runlog sync`` to the same server, gives equal runs,
compared field by field: run names, params, every metric point (key, step, value, timestamp), user tags, nesting,
status, artifact paths and bytes.

The server is the one scripts/test.sh starts from scripts/mlflow-server.sh (``MLFLOW_TRACKING_URI``); without it the
test fails, it is never skipped."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from conftest import cli, clean_env, run_script

SCRIPT = """
import os
import numpy as np
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

T = 1_700_000_000_000
mlflow.set_experiment(os.environ["EXPERIMENT"])
with mlflow.start_run(run_name="parent") as parent:
    mlflow.log_param("lr", 0.01)
    mlflow.log_params({"layers": 3, "act": "relu", "unicode": "λ-β"})
    for step in range(50):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=T + step)
    # Two points at one step, and a step logged out of order.
    mlflow.log_metric("loss", 0.25, step=10, timestamp=T + 999)
    mlflow.log_metric("late", 3.0, step=5, timestamp=T + 5)
    mlflow.log_metric("late", 1.0, step=1, timestamp=T + 6)
    mlflow.log_metrics({"acc": 0.5, "f1": 0.25}, step=7, timestamp=T + 100)
    MlflowClient().log_batch(
        parent.info.run_id,
        metrics=[Metric(f"batch/m{i % 4}", i / 3.0, T + i, i // 4) for i in range(2000)],
        params=[Param("batch_size", "64")],
        tags=[RunTag("via", "log_batch")],
    )
    mlflow.set_tag("stage", "dev")
    mlflow.set_tags({"owner": "me", "note": "ü ∑ 😀"})
    mlflow.set_tag("stage", "prod")
    mlflow.log_dict({"a": [1, 2], "b": {"c": None}}, "config/params.json")
    mlflow.log_text("hello runlog\\n", "notes.txt")
    with open("weights.bin", "wb") as f:
        f.write(bytes(range(256)) * 4000)
    mlflow.log_artifact("weights.bin", "model")
    mlflow.log_image(np.arange(48, dtype=np.uint8).reshape(4, 4, 3), "images/grid.png")
    with mlflow.start_run(run_name="child-ok", nested=True):
        mlflow.log_metric("fold_loss", 0.5, step=0, timestamp=T)
        mlflow.set_tag("fold", "1")
    mlflow.start_run(run_name="child-failed", nested=True)
    mlflow.log_param("fold", 2)
    mlflow.end_run("FAILED")
    mlflow.start_run(run_name="child-killed", nested=True)
    mlflow.log_metric("fold_loss", 0.75, step=3, timestamp=T + 3)
    mlflow.end_run("KILLED")
"""


# Read at collection, before any test runs: MLflow's set_tracking_uri (other tests call it) rewrites the variable.
SERVER = os.environ.get("MLFLOW_TRACKING_URI", "")


def tracking_server() -> str:
    uri = SERVER
    assert uri.startswith("http"), (
        "these tests need a real MLflow tracking server: scripts/test.sh starts one (scripts/mlflow-server.sh) and "
        f"exports MLFLOW_TRACKING_URI; it is {uri!r}")
    return uri


def bookkeeping(key: str) -> bool:
    """Tags that are not the run's: runlog's sync names the runlog run and store it came from (``runlog.*``, as MLflow
    keeps ``mlflow.*`` for itself), and the parent tag holds a run id, which differs on each side by nature."""
    return key.startswith("runlog.") or key == "mlflow.parentRunId"


def artifacts(client: MlflowClient, run_id: str, path: str | None, into: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for f in client.list_artifacts(run_id, path):
        if f.is_dir:
            out.update(artifacts(client, run_id, f.path, into))
        else:
            local = Path(client.download_artifacts(run_id, f.path, str(into)))
            out[f.path] = local.read_bytes()
    return out


def snapshot(client: MlflowClient, experiment: str, into: Path) -> dict[str, dict[str, Any]]:
    """Every run of an experiment by run name, as comparable values."""
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} on the server"
    runs = client.search_runs([exp.experiment_id], max_results=100)
    names = {r.info.run_id: r.info.run_name for r in runs}
    out: dict[str, dict[str, Any]] = {}
    for r in runs:
        history = {
            key: [(m.step, m.timestamp, m.value) for m in client.get_metric_history(r.info.run_id, key)]
            for key in r.data.metrics
        }
        assert r.info.run_name not in out, f"two runs named {r.info.run_name!r} in {experiment}"
        d = into / r.info.run_id
        d.mkdir(parents=True)
        out[r.info.run_name] = {
            "status": r.info.status,
            "ended": r.info.end_time is not None and r.info.end_time >= r.info.start_time,
            "params": r.data.params,
            "tags": {k: v for k, v in r.data.tags.items() if not bookkeeping(k)},
            "parent": names.get(r.data.tags.get("mlflow.parentRunId", ""), r.data.tags.get("mlflow.parentRunId")),
            "metrics": {k: sorted(v) for k, v in history.items()},
            "artifacts": artifacts(client, r.info.run_id, None, d),
        }
    return out


def test_a_script_logged_into_runlog_and_synced_equals_the_same_script_logged_into_mlflow(tmp_path: Path) -> None:
    server = tracking_server()
    tag = uuid.uuid4().hex[:10]
    direct, synced = f"equiv-direct-{tag}", f"equiv-synced-{tag}"
    work = tmp_path / "work"
    work.mkdir()
    # The same script file, in the same directory, so MLflow's source tags are the same on both sides.
    run_script(work, SCRIPT, env=clean_env(MLFLOW_TRACKING_URI=server, EXPERIMENT=direct), name="train.py")
    run_script(work, SCRIPT, env=clean_env(MLFLOW_TRACKING_URI="runlog:runlog.db", EXPERIMENT=synced, RUNLOG_SYNC="0"),
               name="train.py")
    cfg = tmp_path / "cfg"
    env = clean_env(RUNLOG_CONFIG_DIR=str(cfg), HOME=str(cfg), RUNLOG_REMOTE=f"mlflow+{server}")
    env.pop("MLFLOW_TRACKING_URI", None)
    for _ in range(2):  # a second sync finds everything landed and sends nothing again
        cli("--store", str(work / "runlog.db"), "sync", env=env)

    client = MlflowClient(tracking_uri=server)
    want = snapshot(client, direct, tmp_path / "direct")
    got = snapshot(client, synced, tmp_path / "synced")
    assert sorted(want) == ["child-failed", "child-killed", "child-ok", "parent"]
    assert sorted(got) == sorted(want)
    for name in want:
        w, g = want[name], got[name]
        for field in ("status", "ended", "params", "tags", "parent"):
            assert g[field] == w[field], f"{name}: {field} differs: synced {g[field]!r}, direct {w[field]!r}"
        assert sorted(g["metrics"]) == sorted(w["metrics"]), f"{name}: metric keys"
        for key in w["metrics"]:
            assert g["metrics"][key] == w["metrics"][key], f"{name}: points of {key!r} differ"
        assert sorted(g["artifacts"]) == sorted(w["artifacts"]), f"{name}: artifact paths"
        for path in w["artifacts"]:
            assert g["artifacts"][path] == w["artifacts"][path], f"{name}: bytes of {path!r} differ"
    parent = want["parent"]
    assert parent["status"] == "FINISHED" and parent["params"]["batch_size"] == "64"
    assert len(parent["metrics"]["loss"]) == 51 and len(parent["metrics"]["batch/m3"]) == 500
    assert sorted(parent["artifacts"]) == ["config/params.json", "images/grid.png", "model/weights.bin", "notes.txt"]
    assert (want["child-failed"]["status"], want["child-killed"]["status"]) == ("FAILED", "KILLED")
    # The synced runs name where they came from, and nothing else of runlog's.
    exp = client.get_experiment_by_name(synced)
    assert exp is not None
    for r in client.search_runs([exp.experiment_id]):
        extra = {k for k in r.data.tags if k.startswith("runlog.")}
        assert extra <= {"runlog.run_id", "runlog.store_id", "runlog.parent_run_id"}, extra
