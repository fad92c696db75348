"""Python's logging into the run, the `runlog` command from pip, and Azure's chart schemas."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

import runlog

from conftest import clean_env, cli, run_script


def test_logging_records_level_logger_and_message(exp: runlog.Experiment) -> None:
    run = exp.start_logging(outputs=None)
    log = logging.getLogger("trainer.loop")
    log.setLevel(logging.INFO)
    log.info("epoch %d done", 3)
    log.warning("lr is high")
    logging.getLogger().error("root says %s", "hi")
    run.complete()
    log.warning("after the end")  # an ended run records nothing more, and nothing raises
    lines = [l for l in run.get_logs() if l[0] == "log"]
    assert lines == [
        ("log", "INFO", "trainer.loop", "epoch 3 done"),
        ("log", "WARN", "trainer.loop", "lr is high"),
        ("log", "ERROR", "root", "root says hi"),
    ]


def test_logging_capture_can_be_turned_off(exp: runlog.Experiment) -> None:
    quiet = exp.start_logging(outputs=None, capture_logging=False)
    # The root handler, if an earlier run installed it, still points at that run, not this one.
    logging.getLogger("x").warning("not for the quiet run")
    quiet.complete()
    assert quiet.get_logs() == []


def test_handler_on_a_chosen_logger(run: runlog.Run) -> None:
    h = runlog.RunlogHandler(run)
    h.setFormatter(logging.Formatter("%(name)s| %(message)s"))
    lg = logging.getLogger("mine")
    lg.propagate = False
    lg.addHandler(h)
    try:
        lg.warning("custom")
    finally:
        lg.removeHandler(h)
    assert ("log", "WARN", "mine", "mine| custom") in run.get_logs()


def test_script_logging_goes_into_the_context_run(tmp_path: Path) -> None:
    p = run_script(tmp_path, """
        import logging
        from runlog import Run
        logging.basicConfig(level=logging.INFO)
        run = Run.get_context()
        logging.getLogger("train").info("started")
        print(run.id)
    """)
    ws = runlog.Workspace(store=tmp_path / "runlog.db")
    r = runlog.Run(runlog.Experiment(ws, "script"), p.stdout.strip())
    assert ("log", "INFO", "train", "started") in r.get_logs()
    p2 = run_script(tmp_path, """
        import logging
        from runlog import Run
        logging.basicConfig(level=logging.INFO)
        run = Run.get_context()
        logging.getLogger("train").info("started")
        print(run.id)
    """, env=clean_env(RUNLOG_CAPTURE_LOGGING="0"))
    r2 = runlog.Run(runlog.Experiment(ws, "script"), p2.stdout.strip())
    assert r2.get_logs() == []


def test_the_runlog_command_comes_with_the_package(tmp_path: Path) -> None:
    v = cli("--version").stdout
    assert v.startswith("runlog ") and runlog.__version__ in v
    assert "exec" in cli("--help").stdout
    # Exit codes are the binary's: 3 for a file that is not a store, 2 for a bad command line.
    (tmp_path / "junk.db").write_bytes(b"junk" * 100)
    bad = cli("--store", str(tmp_path / "junk.db"), "ls", check=False)
    assert bad.returncode == 3 and bad.stderr.startswith("runlog: ")
    assert cli("no-such-command", check=False).returncode == 2
    # `runlog log` (JSON lines on stdin) works from the pip-installed command too.
    import subprocess

    from conftest import RUNLOG

    store = tmp_path / "s.db"
    run = runlog.Experiment(runlog.Workspace(store=store), "cli").start_logging(outputs=None, capture_logging=False)
    env = clean_env(RUNLOG_STORE=str(store), RUNLOG_RUN_ID=run.id)
    subprocess.run([RUNLOG, "log"], input='{"name": "fromcli", "value": 0.5}\n', env=env, text=True, check=True,
                   timeout=60)
    assert run.get_metrics()["fromcli"] == 0.5
    run.complete()


CM = {
    "schema_type": "confusion_matrix",
    "schema_version": "1.0.0",
    "data": {"class_labels": ["0", "1", "2"], "matrix": [[3, 0, 1], [0, 4, 0], [1, 0, 5]]},
}
ACC = {
    "schema_type": "accuracy_table",
    "schema_version": "1.0.1",
    "data": {
        "probability_tables": [[[5, 5, 0, 0], [4, 2, 3, 1]], [[5, 5, 0, 0], [3, 1, 4, 2]]],
        "percentile_tables": [[[5, 5, 0, 0]], [[5, 5, 0, 0]]],
        "probability_thresholds": [0.0, 0.5],
        "percentile_thresholds": [0.0],
        "class_labels": ["a", "b"],
    },
}
PRED = {
    "schema_type": "predictions",
    "schema_version": "1.0.0",
    "data": {"bin_averages": [0.1, 0.5], "bin_errors": [0.01, 0.02], "bin_counts": [10, 12], "bin_edges": [0, 0.3, 1]},
}
RES = {"schema_type": "residuals", "schema_version": "1.0.0",
       "data": {"bin_edges": [-1.0, 0.0, 1.0], "bin_counts": [4, 6]}}


def test_charts_in_azures_schemas_are_validated_stored_as_chart_records_and_referenced(run: runlog.Run) -> None:
    run.log_confusion_matrix("cm", CM, description="validation set")
    run.log_accuracy_table("acc", json.dumps(ACC))
    np_pred = dict(PRED, data={k: np.array(v) for k, v in PRED["data"].items()})
    run.log_predictions("pred", np_pred)
    run.log_residuals("res", RES)
    m = run.get_metrics()
    for name in ("cm", "acc", "pred", "res"):
        assert m[name] == f"runlog://{run.id}/charts/{name}/0"
    assert run.get_chart("cm") == CM
    assert run.get_chart("pred") == PRED and run.get_chart("acc") == ACC and run.get_chart("res") == RES
    # Typed records of their own: not files, listed as charts with their description.
    assert not [f for f in run.get_file_names() if f.startswith("charts/")]
    kinds = {n: (k, d) for (n, k, _c, d) in run._store.metrics(run.id)}
    assert kinds["cm"] == ("chart", "validation set") and kinds["res"][0] == "chart"
    # A name logged again keeps both versions, at steps 0 and 1.
    cm2 = dict(CM, data=dict(CM["data"], matrix=[[4, 0, 0], [0, 4, 0], [0, 0, 6]]))
    run.log_confusion_matrix("cm", cm2)
    assert run.get_metrics("cm") == {"cm": [f"runlog://{run.id}/charts/cm/0", f"runlog://{run.id}/charts/cm/1"]}
    assert run.get_chart("cm") == cm2 and run.get_chart("cm", step=0) == CM
    with pytest.raises(KeyError, match="has no chart 'absent'"):
        run.get_chart("absent")


@pytest.mark.parametrize("kind,value,pattern", [
    ("confusion_matrix", dict(CM, schema_type="residuals"), 'has schema_type "residuals", expected "confusion_matrix"'),
    ("confusion_matrix", dict(CM, data={"class_labels": ["a", "b"], "matrix": [[1, 2]]}),
     r"data.matrix has 1 entries, the schema needs 2"),
    ("confusion_matrix", dict(CM, data={"class_labels": ["a"], "matrix": [["x"]]}), r"matrix\[0\]\[0\] must be a number"),
    ("accuracy_table", dict(ACC, data=dict(ACC["data"], probability_thresholds=[0.0])),
     r"probability_tables\[0\] has 2 entries, the schema needs 1"),
    ("predictions", dict(PRED, data=dict(PRED["data"], bin_edges=[0, 1])), r"bin_edges has 2 edges for 2 bins; it needs 3"),
    ("residuals", dict(RES, schema_version=1), r"schema_version must be a non-empty string"),
])
def test_charts_that_do_not_fit_their_schema_are_refused(run: runlog.Run, kind, value, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        getattr(run, f"log_{kind}")("bad", value)
    assert "bad" not in run.get_metrics()
    run.log("alive", 1.0)
    assert run.get_metrics()["alive"] == 1.0


def test_the_web_ui_draws_the_charts(run: runlog.Run, tmp_path: Path) -> None:
    """`runlog ui` from the package, a real headless Chromium running the page's JavaScript, the drawn DOM read back."""
    import os
    import shutil
    import subprocess

    from conftest import RUNLOG

    chromium = os.environ.get("RUNLOG_CHROMIUM") or shutil.which("chromium")
    assert chromium, "the UI test needs Chromium (scripts/test-env.sh installs it; or set RUNLOG_CHROMIUM)"
    run.log_confusion_matrix("cm", CM)
    run.log_accuracy_table("acc", ACC)
    run.log_predictions("pred", PRED)
    run.log_residuals("res", RES)
    run.complete()
    server = subprocess.Popen([RUNLOG, "--store", str(run._store.path), "ui", "--listen", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, text=True, env=clean_env())
    try:
        assert server.stdout is not None
        url = next(w for w in server.stdout.readline().split() if w.startswith("http://")).rstrip("/")
        dom = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}",
             "--virtual-time-budget=15000", "--dump-dom", f"{url}/runs/{run.id}"],
            capture_output=True, text=True, timeout=120,
        ).stdout
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert 'id="azure-charts"' in dom, dom[:2000]
    # The confusion matrix as a heat map: 3 x 3 cells, the largest one darkest.
    assert dom.count('class="heatmap"') == 1
    assert 'style="background: rgba(47, 111, 222, 1.000); color: #fff" data-value="5"' in dom
    assert 'style="background: rgba(47, 111, 222, 0.000); color: inherit" data-value="0"' in dom
    assert dom.count("data-value=") == 9
    # Residuals as a histogram, ROC curves for the accuracy table, predicted vs true with error bars.
    assert 'data-count="4"' in dom and 'data-count="6"' in dom
    assert dom.count("<polyline") >= 3
    for name in ("cm", "acc", "pred", "res"):
        assert f'data-chart="{name}"' in dom
    assert "cannot draw" not in dom
    assert "<main id=\"main\">null" not in dom and ">null<" not in dom
