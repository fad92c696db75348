"""The MLflow plugin: real MLflow clients (fluent API, MlflowClient, sklearn autolog) logging through ``runlog:``,
read back through MLflow and through the ``runlog`` command."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import mlflow
import mlflow.data
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking._tracking_service.utils import _get_store

from conftest import RUNLOG, clean_env, cli, cli_json, integrity, run_script

FLUENT = """
import json, sys
import mlflow

mlflow.set_experiment("demo")
with mlflow.start_run(run_name="parent") as parent:
    mlflow.log_param("lr", 0.01)
    mlflow.log_params({"layers": 3, "act": "relu"})
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
    mlflow.log_metrics({"acc": 0.5, "f1": 0.25}, step=7)
    mlflow.set_tag("stage", "dev")
    mlflow.set_tags({"owner": "me"})
    mlflow.log_dict({"a": [1, 2]}, "config/params.json")
    mlflow.log_text("hello runlog", "notes.txt")
    with mlflow.start_run(run_name="child", nested=True) as child:
        mlflow.log_metric("fold_loss", 0.5)
print(json.dumps({"parent": parent.info.run_id, "child": child.info.run_id}))
"""


def uri_of(path: Path) -> str:
    return f"runlog://{path}"


@contextlib.contextmanager
def runlog_ui(store: Path, *args: str) -> Iterator[str]:
    """`runlog ui` on a store, as a real process on a free loopback port: yields its http:// URL, the MLflow tracking
    URI of the store's REST endpoint."""
    assert RUNLOG is not None, "the runlog command is not installed beside this interpreter"
    p = subprocess.Popen([RUNLOG, "--store", str(store), "ui", "--listen", "127.0.0.1:0", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        m = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
        assert m, f"runlog ui did not say where it listens: {line!r} {p.stderr.read() if p.poll() is not None else ''}"
        yield m.group(1)
    finally:
        p.terminate()
        p.wait(timeout=30)


@pytest.fixture(params=["plugin", "rest"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path):
    """The same store two ways: `runlog:` (the plugin, in this process) and `http://` (MLflow's REST client talking
    to `runlog ui`'s MLflow endpoint on the same file)."""
    with contextlib.ExitStack() as stack:
        if request.param == "plugin":
            uri = uri_of(tmp_path / "runlog.db")
        else:
            uri = stack.enter_context(runlog_ui(tmp_path / "runlog.db", "--create"))
        yield from _use(uri)


def _use(uri: str) -> Iterator[str]:
    mlflow.set_tracking_uri(uri)
    # The fluent API remembers the experiment of an earlier test's store: start each test in "0".
    mlflow.set_experiment(experiment_id="0")
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def test_fluent_api_reads_back_through_mlflow_client_and_the_cli(tmp_path: Path) -> None:
    # A real script with a relative runlog: URI, as a user sets it in the environment.
    out = run_script(tmp_path, FLUENT, env=clean_env(MLFLOW_TRACKING_URI="runlog:runlog.db")).stdout
    ids = json.loads(out.strip().splitlines()[-1])
    client = MlflowClient(tracking_uri=uri_of(tmp_path / "runlog.db"))
    exp = client.get_experiment_by_name("demo")
    assert exp is not None and exp.lifecycle_stage == "active"
    parent = client.get_run(ids["parent"])
    assert parent.info.run_name == "parent"
    assert parent.info.status == "FINISHED"
    assert parent.info.experiment_id == exp.experiment_id
    assert parent.info.end_time is not None and parent.info.end_time >= parent.info.start_time
    assert parent.data.params == {"lr": "0.01", "layers": "3", "act": "relu"}
    assert parent.data.metrics == {"loss": 0.2, "acc": 0.5, "f1": 0.25}
    assert parent.data.tags["stage"] == "dev" and parent.data.tags["owner"] == "me"
    assert parent.data.tags["mlflow.runName"] == "parent"
    assert not any(k.startswith("runlog.") for k in parent.data.tags)
    history = client.get_metric_history(ids["parent"], "loss")
    assert [(m.key, m.step, m.value, m.timestamp) for m in history] == [
        ("loss", s, 1.0 / (s + 1), 1_700_000_000_000 + s) for s in range(5)
    ]
    assert [(m.step, m.value) for m in client.get_metric_history(ids["parent"], "acc")] == [(7, 0.5)]
    artifacts = sorted(f.path for f in client.list_artifacts(ids["parent"]))
    assert artifacts == ["config", "notes.txt"]
    assert [(f.path, f.is_dir) for f in client.list_artifacts(ids["parent"], "config")] == [
        ("config/params.json", False)]
    assert mlflow.artifacts.load_dict(f"{parent.info.artifact_uri}/config/params.json") == {"a": [1, 2]}
    got = Path(client.download_artifacts(ids["parent"], "notes.txt", str(tmp_path)))
    assert got.read_text() == "hello runlog"
    child = client.get_run(ids["child"])
    assert child.data.tags["mlflow.parentRunId"] == ids["parent"]
    assert child.data.metrics == {"fold_loss": 0.5}

    # The same runs are ordinary runlog runs: the CLI lists and shows them, nested.
    store = str(tmp_path / "runlog.db")
    listed = cli_json("--store", store, "ls", "--json")
    assert {r["id"] for r in listed} >= {ids["parent"], ids["child"]}
    shown = cli_json("--store", store, "show", ids["parent"], "--json")
    assert shown["experiment"] == "demo" and shown["name"] == "parent" and shown["status"] == "completed"
    assert shown["metrics"]["loss"]["count"] == 5
    assert sorted(f["name"] for f in shown["files"]) == ["config/params.json", "notes.txt"]
    assert shown["properties"]["runlog.mlflow.experimentId"] == exp.experiment_id
    child_shown = cli_json("--store", store, "show", ids["child"], "--json")
    assert child_shown["parent"] == ids["parent"]
    assert integrity(tmp_path / "runlog.db") == "ok"


def test_log_batch_keeps_the_clients_timestamps_and_a_directory_means_its_runlog_db(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    client = MlflowClient(tracking_uri=f"runlog://{tmp_path}/store")
    run = client.create_run("0", start_time=1_600_000_000_000, run_name="batch")
    metrics = [Metric(f"m{i % 10}", float(i), 1_600_000_000_000 + i, i // 10) for i in range(1000)]
    client.log_batch(run.info.run_id, metrics=metrics, params=[Param("p", "1")], tags=[RunTag("t", "v")])
    client.set_terminated(run.info.run_id, "KILLED", end_time=1_600_000_009_999)
    got = client.get_run(run.info.run_id)
    assert (got.info.start_time, got.info.end_time, got.info.status) == (1_600_000_000_000, 1_600_000_009_999,
                                                                         "KILLED")
    assert got.data.params == {"p": "1"} and got.data.tags["t"] == "v"
    history = client.get_metric_history(run.info.run_id, "m3")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (i // 10, float(i), 1_600_000_000_000 + i) for i in range(3, 1000, 10)]
    assert (tmp_path / "store" / "runlog.db").exists()
    assert client.get_experiment("0").name == "Default"


def _autolog_fit(caplog: pytest.LogCaptureFixture, **autolog: bool) -> str:
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge

    X, y = make_regression(n_samples=60, n_features=4, noise=0.1, random_state=0)
    mlflow.sklearn.autolog(**autolog)
    # MLflow's logger does not propagate to the root logger, where caplog listens.
    mlflow_logger = logging.getLogger("mlflow")
    mlflow_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="mlflow"), mlflow.start_run() as run:
            Ridge(alpha=0.5).fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
        mlflow_logger.removeHandler(caplog.handler)
    return str(run.info.run_id)


def test_sklearn_autolog_logs_params_metrics_and_tags(store_uri: str, caplog: pytest.LogCaptureFixture) -> None:
    mlflow.set_experiment("autolog")
    client = MlflowClient(tracking_uri=store_uri)
    # As MLflow 3 runs it by default: the model is logged first, as a logged model, which runlog does not keep. The
    # store refuses it with MLflow's own error; autolog reports it as a warning and, MLflow's order, skips the
    # training metrics after it. The params are kept.
    run_id = _autolog_fit(caplog)
    assert "is not supported by the runlog tracking store" in caplog.text
    assert client.get_run(run_id).data.params["alpha"] == "0.5"
    caplog.clear()
    # Without model logging, everything autolog logs is kept; the training dataset (log_input) is refused, loudly.
    run_id = _autolog_fit(caplog, log_models=False)
    got = client.get_run(run_id)
    assert got.data.params["alpha"] == "0.5" and got.data.params["solver"] == "auto"
    assert {"training_score", "training_r2_score", "training_mean_squared_error"} <= set(got.data.metrics)
    assert 0.9 < got.data.metrics["training_r2_score"] <= 1.0
    assert got.data.tags["estimator_name"] == "Ridge"
    assert "log_inputs (datasets and model inputs) is not supported" in caplog.text


def test_a_param_rewritten_with_another_value_is_refused_and_nothing_is_lost(store_uri: str) -> None:
    client = MlflowClient(tracking_uri=store_uri)
    with mlflow.start_run() as run:
        mlflow.log_param("lr", "0.1")
        mlflow.log_metric("loss", 1.0, step=0)
        mlflow.log_param("lr", "0.1")  # the same value again is fine
        with pytest.raises(MlflowException) as e:
            mlflow.log_param("lr", "0.2")
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "lr" in e.value.message and "0.1" in e.value.message and "0.2" in e.value.message
        # A batch whose param conflicts logs none of its metrics (MLflow checks params first).
        with pytest.raises(MlflowException):
            client.log_batch(run.info.run_id, metrics=[Metric("loss", 2.0, 0, 1)], params=[Param("lr", "0.3")])
        mlflow.log_metric("loss", 0.5, step=1)
    got = client.get_run(run.info.run_id)
    assert got.data.params == {"lr": "0.1"}
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")] == [(0, 1.0), (1, 0.5)]


def test_a_bad_metric_key_and_an_oversized_batch_raise_mlflows_errors(store_uri: str) -> None:
    client = MlflowClient(tracking_uri=store_uri)
    with mlflow.start_run() as run:
        mlflow.log_metric("ok", 1.0)
        with pytest.raises(MlflowException) as e:
            mlflow.log_metric("bad key!", 1.0)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE" and "bad key!" in e.value.message
        # MlflowClient splits an oversized batch itself; the store (what a REST endpoint calls) refuses one.
        store = _get_store(store_uri)
        too_many = [Metric("m", 1.0, 0, i) for i in range(1001)]
        with pytest.raises(MlflowException) as e:
            store.log_batch(run.info.run_id, metrics=too_many, params=[], tags=[])
        assert e.value.error_code == "INVALID_PARAMETER_VALUE" and "1000" in e.value.message
        with pytest.raises(MlflowException) as e:
            store.log_batch(run.info.run_id, metrics=[], params=[Param(f"p{i}", "v") for i in range(101)], tags=[])
        assert "100" in e.value.message
        with pytest.raises(MlflowException):
            store.log_batch(run.info.run_id, metrics=[], params=[], tags=[RunTag(f"t{i}", "v") for i in range(101)])
        with pytest.raises(MlflowException):
            store.log_batch(run.info.run_id, metrics=too_many[:950], params=[Param(f"p{i}", "v") for i in range(51)],
                            tags=[])
        store.log_batch(run.info.run_id, metrics=too_many[:1000], params=[], tags=[])  # at the limit is fine
        client.log_batch(run.info.run_id, metrics=[Metric("split", 1.0, 0, i) for i in range(2500)])
    got = client.get_run(run.info.run_id)
    assert got.data.metrics["ok"] == 1.0
    assert "bad key!" not in got.data.metrics
    assert len(client.get_metric_history(run.info.run_id, "m")) == 1000
    assert len(client.get_metric_history(run.info.run_id, "split")) == 2500
    assert not any(k.startswith("p") for k in got.data.params)
    assert not any(k.startswith("t") for k in got.data.tags)


def test_search_runs_filters_and_orders_with_mlflows_syntax(store_uri: str) -> None:
    client = MlflowClient(tracking_uri=store_uri)
    exp = client.create_experiment("search")
    ids = {}
    for lr, loss in [("0.1", 0.9), ("0.01", 0.3), ("0.001", 0.5)]:
        run = client.create_run(exp, run_name=f"lr-{lr}", tags={"kind": "sweep" if lr != "0.1" else "base"})
        client.log_param(run.info.run_id, "lr", lr)
        client.log_metric(run.info.run_id, "loss", loss)
        client.set_terminated(run.info.run_id)
        ids[lr] = run.info.run_id
    found = client.search_runs([exp], "metrics.loss < 0.6 and tags.kind = 'sweep'", order_by=["metrics.loss ASC"])
    assert [r.info.run_id for r in found] == [ids["0.01"], ids["0.001"]]
    found = client.search_runs([exp], "params.lr = '0.1'")
    assert [r.info.run_name for r in found] == ["lr-0.1"]
    found = client.search_runs([exp], "attributes.run_name LIKE 'lr-0.0%'", order_by=["attributes.run_name DESC"])
    assert [r.info.run_name for r in found] == ["lr-0.01", "lr-0.001"]
    assert [r.info.run_id for r in client.search_runs([exp], "attributes.status = 'FINISHED'")] != []
    page = client.search_runs([exp], order_by=["metrics.loss DESC"], max_results=2)
    assert [r.info.run_id for r in page] == [ids["0.1"], ids["0.001"]] and page.token
    rest = client.search_runs([exp], order_by=["metrics.loss DESC"], max_results=2, page_token=page.token)
    assert [r.info.run_id for r in rest] == [ids["0.01"]]
    with pytest.raises(MlflowException):
        client.search_runs([exp], "metrics.loss <<< 1")


def test_delete_and_restore_are_events_and_experiment_zero_is_default(store_uri: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=store_uri)
    default = client.get_experiment("0")
    assert (default.name, default.lifecycle_stage) == ("Default", "active")
    run = client.create_run("0")
    client.log_metric(run.info.run_id, "x", 1.0)
    client.delete_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs(["0"]) == []
    assert [r.info.run_id for r in client.search_runs(["0"], run_view_type=ViewType.DELETED_ONLY)] == [
        run.info.run_id]
    with pytest.raises(MlflowException):
        client.log_metric(run.info.run_id, "x", 2.0)
    client.restore_run(run.info.run_id)
    assert [r.info.run_id for r in client.search_runs(["0"])] == [run.info.run_id]
    client.log_metric(run.info.run_id, "x", 2.0, step=1)

    exp = client.create_experiment("old", tags={"team": "a"})
    with pytest.raises(MlflowException) as e:
        client.create_experiment("old")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    client.rename_experiment(exp, "new")
    assert client.get_experiment(exp).name == "new" and client.get_experiment_by_name("old") is None
    client.set_experiment_tag(exp, "team", "b")
    assert client.get_experiment(exp).tags == {"team": "b"}
    client.delete_experiment(exp)
    assert client.get_experiment(exp).lifecycle_stage == "deleted"
    assert "new" not in [e.name for e in client.search_experiments()]
    assert "new" in [e.name for e in client.search_experiments(view_type=ViewType.DELETED_ONLY)]
    with pytest.raises(MlflowException):
        client.create_run(exp)
    client.restore_experiment(exp)
    assert client.get_experiment(exp).lifecycle_stage == "active"
    again = client.create_experiment("old")  # the old name is free again after the rename
    assert again != exp
    with pytest.raises(MlflowException):
        client.delete_experiment("0")
    # Every change was appended: the store still holds the first name and every tag value.
    assert integrity(tmp_path / "runlog.db") == "ok"


def test_what_runlog_does_not_keep_raises_mlflows_error(store_uri: str) -> None:
    client = MlflowClient(tracking_uri=store_uri)
    with pytest.raises(MlflowException) as e:
        client.create_logged_model("0", name="m")
    assert e.value.error_code == "FEATURE_DISABLED" and "not supported by the runlog" in e.value.message
    with pytest.raises(MlflowException) as e:
        client.search_traces(locations=["0"])
    assert e.value.error_code == "FEATURE_DISABLED"
    with mlflow.start_run():
        dataset = mlflow.data.from_numpy(__import__("numpy").zeros((2, 2)), name="zeros")
        with pytest.raises(MlflowException) as e:
            mlflow.log_input(dataset)
        assert e.value.error_code == "FEATURE_DISABLED"


def test_a_uri_with_a_host_is_refused() -> None:
    with pytest.raises(MlflowException) as e:
        MlflowClient(tracking_uri="runlog://somehost/x.db").search_experiments()
    assert "local file" in e.value.message


def test_artifacts_of_every_kind_are_files_of_the_run(store_uri: str, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    client = MlflowClient(tracking_uri=store_uri)
    (tmp_path / "one.txt").write_text("one")
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "a.bin").write_bytes(b"\x00\x01")
    (tmp_path / "tree" / "sub" / "b.txt").write_text("b")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "one.txt"))
        mlflow.log_artifact(str(tmp_path / "one.txt"), artifact_path="copies")
        mlflow.log_artifacts(str(tmp_path / "tree"), artifact_path="tree")
        mlflow.log_figure(fig, "plots/line.png")
        mlflow.log_image(np.zeros((8, 8, 3), dtype=np.uint8), "images/black.png")
    plt.close(fig)
    rid = run.info.run_id
    assert sorted((f.path, f.is_dir) for f in client.list_artifacts(rid)) == [
        ("copies", True), ("images", True), ("one.txt", False), ("plots", True), ("tree", True)]
    assert sorted(f.path for f in client.list_artifacts(rid, "tree")) == ["tree/a.bin", "tree/sub"]
    assert [(f.path, f.file_size) for f in client.list_artifacts(rid, "tree/sub")] == [("tree/sub/b.txt", 1)]
    out = Path(client.download_artifacts(rid, "tree", str(tmp_path / "down")))
    assert (out / "a.bin").read_bytes() == b"\x00\x01" and (out / "sub" / "b.txt").read_text() == "b"
    png = Path(client.download_artifacts(rid, "plots/line.png", str(tmp_path / "down")))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = Path(client.download_artifacts(rid, "images/black.png", str(tmp_path / "down")))
    assert img.stat().st_size > 0
    with pytest.raises(MlflowException):
        client.download_artifacts(rid, "missing.txt", str(tmp_path / "down"))


def test_charts_and_images_logged_with_runlog_are_artifacts_as_the_sync_to_mlflow_uploads_them(
        store_uri: str, tmp_path: Path) -> None:
    import runlog
    from PIL import Image

    Image.new("RGB", (4, 2), (200, 10, 10)).save(tmp_path / "red.png")
    cm = {"schema_type": "confusion_matrix", "schema_version": "1.0.0",
          "data": {"class_labels": ["a", "b"], "matrix": [[3, 1], [0, 4]]}}
    run = runlog.Experiment(runlog.Workspace(store=tmp_path / "runlog.db"), "azure").start_logging(
        outputs=None, capture_logging=False)
    run.log_confusion_matrix("cm", {**cm, "data": {**cm["data"], "matrix": [[1, 1], [1, 1]]}})
    run.log_confusion_matrix("cm", cm)
    run.log_image("sample", path=tmp_path / "red.png")
    run.upload_file("notes.txt", str(_text(tmp_path / "notes.txt", "n")))
    run.complete()
    client = MlflowClient(tracking_uri=store_uri)
    assert sorted((f.path, f.is_dir) for f in client.list_artifacts(run.id)) == [
        ("charts", True), ("images", True), ("notes.txt", False)]
    [chart] = client.list_artifacts(run.id, "charts")
    assert chart.path == "charts/cm.json" and not chart.is_dir and chart.file_size > 0
    got = Path(client.download_artifacts(run.id, "charts/cm.json", str(tmp_path / "down")))
    assert json.loads(got.read_text()) == cm, "the chart's latest version, as the sync uploads it"
    [img] = client.list_artifacts(run.id, "images/sample")
    assert re.fullmatch(r"images/sample/step_0_\d+\.png", img.path), img.path
    assert img.file_size == (tmp_path / "red.png").stat().st_size
    down = Path(client.download_artifacts(run.id, img.path, str(tmp_path / "down")))
    assert down.read_bytes() == (tmp_path / "red.png").read_bytes()


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_resumed_run_is_running_again_and_ends_again(store_uri: str) -> None:
    client = MlflowClient(tracking_uri=store_uri)
    with mlflow.start_run() as run:
        mlflow.log_metric("x", 1.0, step=0)
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    with mlflow.start_run(run_id=run.info.run_id):
        resumed = client.get_run(run.info.run_id).info
        assert (resumed.status, resumed.end_time) == ("RUNNING", None)
        mlflow.log_metric("x", 2.0, step=1)
    again = client.get_run(run.info.run_id)
    assert again.info.status == "FINISHED" and again.info.end_time is not None
    assert [m.value for m in client.get_metric_history(run.info.run_id, "x")] == [1.0, 2.0]


# --- the same through MLflow's REST API on `runlog ui` -------------------------------------------------------------


def check_fluent(client: MlflowClient, ids: dict[str, str], downloads: Path) -> None:
    """What the FLUENT script logged, read back through `client`."""
    exp = client.get_experiment_by_name("demo")
    assert exp is not None and exp.lifecycle_stage == "active"
    parent = client.get_run(ids["parent"])
    assert (parent.info.run_name, parent.info.status) == ("parent", "FINISHED")
    assert parent.info.experiment_id == exp.experiment_id
    assert parent.info.end_time is not None and parent.info.end_time >= parent.info.start_time
    assert parent.data.params == {"lr": "0.01", "layers": "3", "act": "relu"}
    assert parent.data.metrics == {"loss": 0.2, "acc": 0.5, "f1": 0.25}
    assert parent.data.tags["stage"] == "dev" and parent.data.tags["owner"] == "me"
    assert not any(k.startswith("runlog.") for k in parent.data.tags)
    assert [(m.step, m.value, m.timestamp) for m in client.get_metric_history(ids["parent"], "loss")] == [
        (s, 1.0 / (s + 1), 1_700_000_000_000 + s) for s in range(5)]
    assert sorted(f.path for f in client.list_artifacts(ids["parent"])) == ["config", "notes.txt"]
    got = Path(client.download_artifacts(ids["parent"], "notes.txt", str(downloads)))
    assert got.read_text() == "hello runlog"
    child = client.get_run(ids["child"])
    assert child.data.tags["mlflow.parentRunId"] == ids["parent"] and child.data.metrics == {"fold_loss": 0.5}


def test_fluent_api_over_rest_reads_back_through_http_the_plugin_and_the_cli(tmp_path: Path) -> None:
    store = tmp_path / "runlog.db"
    with runlog_ui(store, "--create") as url:
        # A real script, told only MLFLOW_TRACKING_URI, as a user points any MLflow client at a server.
        out = run_script(tmp_path, FLUENT, env=clean_env(MLFLOW_TRACKING_URI=url)).stdout
        ids = json.loads(out.strip().splitlines()[-1])
        for uri in (url, uri_of(store)):  # over HTTP, and the same file through the plugin
            check_fluent(MlflowClient(tracking_uri=uri), ids, tmp_path / uri.split(":")[0])
        client = MlflowClient(tracking_uri=url)
        mlflow.set_tracking_uri(url)  # an mlflow-artifacts: URI resolves against the fluent API's tracking URI
        try:
            uri = client.get_run(ids["parent"]).info.artifact_uri
            assert mlflow.artifacts.load_dict(f"{uri}/config/params.json") == {"a": [1, 2]}
        finally:
            mlflow.set_tracking_uri(None)
    shown = cli_json("--store", str(store), "show", ids["parent"], "--json")
    assert shown["experiment"] == "demo" and shown["status"] == "completed"
    assert shown["metrics"]["loss"]["count"] == 5
    assert sorted(f["name"] for f in shown["files"]) == ["config/params.json", "notes.txt"]
    assert cli_json("--store", str(store), "show", ids["child"], "--json")["parent"] == ids["parent"]
    assert integrity(store) == "ok"


def test_raw_rest_requests_as_curl_sends_them(tmp_path: Path) -> None:
    import requests

    with runlog_ui(tmp_path / "runlog.db", "--create") as url:
        api = f"{url}/api/2.0/mlflow"
        run = requests.post(f"{api}/runs/create", json={"experiment_id": "0", "run_name": "curl",
                                                        "start_time": "1700000000000"}, timeout=30).json()["run"]
        rid = run["info"]["run_id"]
        assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/0/{rid}/artifacts"
        # int64 fields as strings and non-finite doubles as protobuf's JSON writes them.
        body = {"run_id": rid, "metrics": [
            {"key": "m", "value": "NaN", "timestamp": "1700000000001", "step": "0"},
            {"key": "m", "value": "Infinity", "timestamp": 1700000000002, "step": 1},
            {"key": "m", "value": 0.5, "timestamp": 1700000000003, "step": 2}],
            "params": [{"key": "p", "value": "1"}], "tags": [{"key": "t", "value": "v"}]}
        assert requests.post(f"{api}/runs/log-batch", json=body, timeout=30).json() == {}
        hist = requests.get(f"{api}/metrics/get-history", params={"run_id": rid, "metric_key": "m"}, timeout=30)
        assert [p["value"] for p in hist.json()["metrics"]] == ["NaN", "Infinity", 0.5]
        # MLflow's error bodies and statuses.
        bad = requests.post(f"{api}/runs/log-parameter", json={"run_id": rid, "key": "p", "value": "2"}, timeout=30)
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "'1'" in bad.json()["message"] and "'2'" in bad.json()["message"]
        missing = requests.get(f"{api}/runs/get", params={"run_id": "0" * 32}, timeout=30)
        assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        garbled = requests.post(f"{api}/runs/log-batch", data=b"{not json", timeout=30)
        assert garbled.status_code == 400 and garbled.json()["error_code"] == "MALFORMED_REQUEST"
        no_exp = requests.get(f"{api}/experiments/get-by-name", params={"experiment_name": "nope"}, timeout=30)
        assert no_exp.status_code == 404
        # Experiment search reads MLflow's filter with the runs' parser; a bad one says where it is wrong.
        for name, team in [("sweep-a", "a"), ("sweep-b", "b"), ("other", "a")]:
            requests.post(f"{api}/experiments/create", json={"name": name, "tags": [{"key": "team", "value": team}]},
                          timeout=30).raise_for_status()
        found = requests.post(f"{api}/experiments/search", json={"filter": "name LIKE 'sweep%' and tags.team = 'a'"},
                              timeout=30).json()["experiments"]
        assert [e["name"] for e in found] == ["sweep-a"]
        bad = requests.post(f"{api}/experiments/search", json={"filter": "name <<< 1"}, timeout=30)
        assert bad.status_code == 400 and "name <<< 1" in bad.json()["message"] and "column" in bad.json()["message"]
        # The proxied artifact API: upload, list, download.
        art = f"{url}/api/2.0/mlflow-artifacts/artifacts/0/{rid}/artifacts"
        assert requests.put(f"{art}/dir/a.bin", data=bytes(range(256)), timeout=30).status_code == 200
        listed = requests.get(f"{url}/api/2.0/mlflow-artifacts/artifacts", params={"path": f"0/{rid}/artifacts"},
                              timeout=30).json()
        assert listed == {"files": [{"path": "dir", "is_dir": True}]}
        assert requests.get(f"{art}/dir/a.bin", timeout=30).content == bytes(range(256))
        assert requests.put(f"{art}/../x", data=b"x", timeout=30).status_code in (400, 404)
        ended = requests.post(f"{api}/runs/update", json={"run_id": rid, "status": "FINISHED",
                                                          "end_time": 1700000000009}, timeout=30).json()
        assert (ended["run_info"]["status"], ended["run_info"]["end_time"]) == ("FINISHED", 1700000000009)
    shown = cli_json("--store", str(tmp_path / "runlog.db"), "show", rid, "--json")
    assert shown["status"] == "completed" and shown["metrics"]["m"]["count"] == 3


def test_a_read_only_endpoint_serves_reads_and_refuses_every_write(tmp_path: Path) -> None:
    store = tmp_path / "runlog.db"
    client = MlflowClient(tracking_uri=uri_of(store))
    run = client.create_run("0", run_name="kept")
    client.log_metric(run.info.run_id, "x", 1.0)
    client.set_terminated(run.info.run_id)
    with runlog_ui(store, "--read-only") as url:
        remote = MlflowClient(tracking_uri=url)
        assert remote.get_run(run.info.run_id).data.metrics == {"x": 1.0}
        for write in (lambda: remote.create_run("0"), lambda: remote.log_metric(run.info.run_id, "x", 2.0),
                      lambda: remote.create_experiment("new")):
            with pytest.raises(MlflowException) as e:
                write()
            assert e.value.error_code == "PERMISSION_DENIED" and "read-only" in e.value.message
    assert [m.value for m in client.get_metric_history(run.info.run_id, "x")] == [1.0]
