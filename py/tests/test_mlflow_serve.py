"""MLflow's REST API on `runlog serve` (issue 10, part 2): a real MLflow client logs into a workspace with its token
(``MLFLOW_TRACKING_TOKEN``), through one replica, and reads back through another replica on the same data directory;
tokens scope what a client sees; bad input gets MLflow's errors and loses nothing."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking._tracking_service.utils import _get_store

from conftest import RUNLOG, clean_env, cli, run_script
from test_mlflow import FLUENT, check_fluent


@contextlib.contextmanager
def serve(data: Path) -> Iterator[tuple[str, str | None]]:
    """`runlog serve --data DATA` on a free loopback port: yields its URL and the first workspace's token (printed
    only by the server that created the data directory)."""
    assert RUNLOG is not None, "the runlog command is not installed beside this interpreter"
    p = subprocess.Popen([RUNLOG, "serve", "--data", str(data), "--listen", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    try:
        assert p.stdout is not None
        token = url = None
        while url is None:
            line = p.stdout.readline()
            assert line, f"runlog serve exited: {p.stderr.read() if p.poll() is not None else ''}"
            if line.startswith("token "):
                token = line.split()[1]
            if m := re.match(r"listening on (http://127\.0\.0\.1:\d+)", line):
                url = m.group(1)
        yield url, token
    finally:
        p.terminate()
        p.wait(timeout=30)


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch):
    """Sets this process's MLFLOW_TRACKING_TOKEN (MLflow's clients read it on each request)."""
    def use(token: str) -> None:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    yield use
    mlflow.set_tracking_uri(None)


def test_a_script_logs_into_a_workspace_and_another_replica_reads_it_back(tmp_path: Path, token_env) -> None:
    data = tmp_path / "data"
    with serve(data) as (one, token), serve(data) as (two, _):
        assert token is not None
        env = clean_env(MLFLOW_TRACKING_URI=one, MLFLOW_TRACKING_TOKEN=token)
        ids = json.loads(run_script(tmp_path, FLUENT, env=env).stdout.strip().splitlines()[-1])
        token_env(token)
        client = MlflowClient(tracking_uri=two)  # the other replica
        check_fluent(client, ids, tmp_path)
        exp = client.get_experiment_by_name("demo")
        assert exp is not None
        found = client.search_runs([exp.experiment_id], "metrics.loss < 0.5", order_by=["attributes.run_name"])
        assert [r.info.run_id for r in found] == [ids["parent"]]
        # The same runs through the workspace's own read API: they are runs of the workspace like synced ones.
        runs = requests.get(f"{one}/api/v1/runs", headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
        by_id = {r["id"]: r for r in runs}
        assert by_id[ids["parent"]]["experiment"] == "demo" and by_id[ids["child"]]["parent"] == ids["parent"]


def test_tokens_scope_what_a_client_sees(tmp_path: Path, token_env) -> None:
    data = tmp_path / "data"
    with serve(data) as (url, token):
        assert token is not None
        other = cli("admin", "--data", str(data), "create-workspace", "other").stdout.split()[1]
        token_env(token)
        run = MlflowClient(tracking_uri=url).create_run("0", run_name="mine")
        token_env(other)
        with pytest.raises(MlflowException) as e:
            MlflowClient(tracking_uri=url).get_run(run.info.run_id)
        assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        assert MlflowClient(tracking_uri=url).search_runs(["0"]) == []
        for headers in ({}, {"Authorization": "Bearer rlt_nope"}):
            r = requests.get(f"{url}/api/2.0/mlflow/runs/get", params={"run_id": run.info.run_id}, headers=headers,
                             timeout=30)
            assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHENTICATED"


def test_bad_input_gets_mlflows_errors_and_nothing_logged_is_lost(tmp_path: Path, token_env) -> None:
    with serve(tmp_path / "data") as (url, token):
        assert token is not None
        token_env(token)
        client = MlflowClient(tracking_uri=url)
        run = client.create_run("0")
        rid = run.info.run_id
        client.log_param(rid, "lr", "0.1")
        client.log_metric(rid, "loss", 1.0, step=0)
        with pytest.raises(MlflowException) as e:
            client.log_param(rid, "lr", "0.2")
        assert e.value.error_code == "INVALID_PARAMETER_VALUE" and "0.1" in e.value.message
        with pytest.raises(MlflowException) as e:
            client.log_metric(rid, "bad key!", 1.0)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE" and "bad key!" in e.value.message
        store = _get_store(url)
        with pytest.raises(MlflowException) as e:
            store.log_batch(rid, metrics=[Metric("m", 1.0, 0, i) for i in range(1001)], params=[], tags=[])
        assert "1000" in e.value.message
        with pytest.raises(MlflowException):
            client.log_batch(rid, metrics=[Metric("loss", 2.0, 0, 1)], params=[Param("lr", "0.3")])
        client.log_metric(rid, "loss", 0.5, step=1)
        client.log_batch(rid, metrics=[Metric("split", float(i), 0, i) for i in range(2500)])
        got = client.get_run(rid)
        assert got.data.params == {"lr": "0.1"} and "bad key!" not in got.data.metrics
        assert [(m.step, m.value) for m in client.get_metric_history(rid, "loss")] == [(0, 1.0), (1, 0.5)]
        assert len(client.get_metric_history(rid, "split")) == 2500
