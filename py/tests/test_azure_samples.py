"""The call sequences of Azure ML's logging-API notebook and of its train-on-local script, in our own words, read
back through get_metrics, get_file_names, download_file and the `runlog` command."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from conftest import clean_env, cli, cli_json, run_script

NOTEBOOK = """
import math, os
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from runlog import Experiment, Run, Workspace

ws = Workspace.from_config()
experiment = Experiment(workspace=ws, name="logging-api-test")
run = experiment.start_logging(snapshot_directory=None)

run.log(name="Magic Number", value=42)
run.log(name="message", value="Hello from run!")
run.log_list(name="Fibonacci", value=[0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89])

def squares(n):
    for i in range(n):
        yield i * i
run.log_list(name="Squares", value=squares(10))

sines = {"angle": [], "sine": []}
for i in range(0, 10):
    angle = i / 2.0
    run.log_row(name="Sine Wave", angle=angle, sine=math.sin(angle))
    sines["angle"].append(angle)
    sines["sine"].append(math.sin(angle))
run.log_table(name="Sine Wave table", value=sines)

angles = np.linspace(-3, 3, 50)
plt.plot(angles, np.tanh(angles), label="tanh")
plt.legend(fontsize=12)
run.log_image(name="Hyperbolic Tangent", plot=plt)
plt.close()

with open("myfile.txt", "w") as f:
    f.write("Hi there")
run.upload_file(name="outputs/myfile.txt", path_or_stream="myfile.txt")

run.tag("used-for-demo")
run.set_tags({"kind": "notebook"})
run.add_properties({"author": "me"})
run.complete()
print(run.id)
"""


def test_logging_api_notebook_reads_back_as_azure_returns_it(tmp_path: Path) -> None:
    run_id = run_script(tmp_path, NOTEBOOK, name="notebook.py").stdout.strip().splitlines()[-1]

    import runlog

    ws = runlog.Workspace(store=tmp_path / "runlog.db")
    exp = runlog.Experiment(workspace=ws, name="logging-api-test")
    fetched = runlog.Run(exp, run_id)
    assert fetched.get_status() == "Completed"
    m = fetched.get_metrics()
    assert m["Magic Number"] == 42.0
    assert m["message"] == "Hello from run!"
    assert m["Fibonacci"] == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
    assert m["Squares"] == [i * i for i in range(10)]
    assert m["Sine Wave"]["angle"] == [i / 2.0 for i in range(10)]
    assert m["Sine Wave"]["sine"] == [math.sin(i / 2.0) for i in range(10)]
    assert m["Sine Wave table"] == m["Sine Wave"]
    assert m["Hyperbolic Tangent"].startswith(f"runlog://{run_id}/images/Hyperbolic Tangent/0.png")
    assert fetched.get_file_names() == ["outputs/myfile.txt"]
    dest = fetched.download_file("outputs/myfile.txt", output_file_path=tmp_path / "back.txt")
    assert Path(dest).read_text() == "Hi there"
    assert fetched.get_tags() == {"used-for-demo": "", "kind": "notebook"}
    assert fetched.get_properties() == {"author": "me"}
    assert [r.id for r in exp.get_runs()] == [run_id]

    # The same facts through the CLI installed with the package.
    store = str(tmp_path / "runlog.db")
    shown = cli_json("--store", store, "show", run_id, "--json")
    assert shown["status"] == "completed"
    kinds = {s["name"]: s["kind"] for s in shown["series"]}
    assert kinds == {
        "Magic Number": "scalar", "message": "text", "Fibonacci": "scalar", "Squares": "scalar",
        "Sine Wave": "row", "Sine Wave table": "table", "Hyperbolic Tangent": "image",
    }
    assert [f["name"] for f in shown["files"]] == ["outputs/myfile.txt"]
    assert shown["tags"]["used-for-demo"] == ""
    listed = cli("--store", store, "ls").stdout
    assert "logging-api-test" in listed
    fib = cli("--store", store, "metrics", run_id, "Fibonacci").stdout
    assert "89" in fib


TRAIN = """
import os, pickle
import numpy as np
from runlog import Run

run = Run.get_context()
X = np.linspace(0, 1, 100)
y = 3 * X + 0.1 * np.sin(40 * X)
alphas = np.arange(0.0, 1.0, 0.05)
os.makedirs("outputs", exist_ok=True)
for alpha in alphas:
    w = float(np.sum(X * y) / (np.sum(X * X) + alpha))
    mse = np.mean((y - w * X) ** 2)            # a numpy float64
    run.log("alpha", alpha)                     # a numpy float64
    run.log("mse", np.float32(mse))             # a numpy float32
    model_file_name = f"ridge_{alpha:.2f}.pkl"
    with open(os.path.join("outputs", model_file_name), "wb") as f:
        pickle.dump({"w": w}, f)
print(run.id)
"""


def test_train_script_alone_logs_into_its_own_store_and_collects_outputs(tmp_path: Path) -> None:
    out = run_script(tmp_path, TRAIN, name="train.py").stdout.strip().splitlines()[-1]
    store = str(tmp_path / "runlog.db")
    info = cli_json("--store", store, "show", out, "--json")
    assert info["experiment"] == "train"
    assert info["status"] == "completed"
    files = sorted(f["name"] for f in info["files"])
    assert files == sorted(f"outputs/ridge_{a:.2f}.pkl" for a in np.arange(0.0, 1.0, 0.05))
    import runlog

    ws = runlog.Workspace(store=store)
    r = runlog.Run(runlog.Experiment(ws, "train"), out)
    m = r.get_metrics()
    assert len(m["alpha"]) == 20 and len(m["mse"]) == 20
    assert m["alpha"][1] == 0.05


def test_train_script_under_runlog_exec_logs_into_the_handed_over_run(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    store = tmp_path / "runlog.db"
    p = cli("--store", str(store), "exec", "-e", "ridge", "-n", "local", "--no-snapshot", "--", _python(),
            "train.py", cwd=tmp_path)
    assert p.returncode == 0
    runs = cli_json("--store", str(store), "ls", "--json")
    assert len(runs) == 1, runs
    info = cli_json("--store", str(store), "show", "ridge/local", "--json")
    assert info["status"] == "completed"
    assert info["metrics"]["mse"]["count"] == 20
    assert any(f["name"] == "outputs/ridge_0.95.pkl" for f in info["files"])
    assert not os.path.exists(tmp_path / "train.db")


def _python() -> str:
    import sys

    return sys.executable
