"""Every call and value type: numbers, numpy inputs, generators, strings, 15-column rows, 3,000-row tables, unicode
names, NaN and infinities; all read back exactly."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import runlog


def test_log_takes_float_int_bool_numpy_scalars_and_str(run: runlog.Run) -> None:
    run.log("x", 1.5)
    run.log("x", 2)
    run.log("x", True)
    run.log("x", np.float64(3.25))
    run.log("x", np.float32(0.5))
    run.log("x", np.int64(7))
    run.log("x", np.bool_(False))
    run.log("note", "a string metric")
    m = run.get_metrics()
    assert m["x"] == [1.5, 2.0, 1.0, 3.25, 0.5, 7.0, 0.0]
    assert m["note"] == "a string metric"
    run.log("note", "again")
    assert run.get_metrics(name="note") == {"note": ["a string metric", "again"]}


def test_explicit_steps_and_descriptions(run: runlog.Run) -> None:
    run.log("loss", 0.9, step=10)
    run.log("loss", 0.8)
    run.log("loss", 0.7, description="training loss")
    run.log("loss", 0.6, description="training loss")
    run.flush()
    steps, values, _ = run._store.series(run.id, "loss")
    assert steps == [10, 11, 12, 13]
    assert values == [0.9, 0.8, 0.7, 0.6]
    descr = [d for (n, _k, _c, d) in run._store.metrics(run.id) if n == "loss"]
    assert descr == ["training loss"]
    # The description is recorded once, not once per call.
    with sqlite3.connect(run._store.path) as c:
        assert c.execute("SELECT count(*) FROM records WHERE kind = 13").fetchone()[0] == 1


def test_nan_and_infinities_are_kept(run: runlog.Run) -> None:
    for v in (math.nan, math.inf, -math.inf, 0.0, -0.0):
        run.log("edge", v)
    run.log_list("edge_list", np.array([np.nan, np.inf, -np.inf]))
    m = run.get_metrics()
    assert math.isnan(m["edge"][0]) and m["edge"][1:4] == [math.inf, -math.inf, 0.0]
    assert math.copysign(1.0, m["edge"][4]) == -1.0
    assert math.isnan(m["edge_list"][0]) and m["edge_list"][1:] == [math.inf, -math.inf]


def test_log_list_of_lists_generators_and_numpy_arrays(run: runlog.Run) -> None:
    run.log_list("a", [1, 2.5, True])
    run.log_list("g", (i * 0.5 for i in range(5)))
    arr = np.arange(100_000, dtype=np.float64) / 7
    run.log_list("np", arr)
    run.log_list("np32", np.arange(5, dtype=np.float32))
    run.log_list("npint", np.arange(5, dtype=np.int64))
    run.log_list("strided", arr[::1000])
    m = run.get_metrics()
    assert m["a"] == [1.0, 2.5, 1.0]
    assert m["g"] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert np.array_equal(np.array(m["np"]), arr)
    assert m["np32"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert m["npint"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert np.array_equal(np.array(m["strided"]), arr[::1000])
    # log_list continues the automatic steps of its name.
    run.log_list("a", [9])
    run.flush()
    assert run._store.series(run.id, "a")[0] == [0, 1, 2, 3]


def test_rows_of_15_typed_columns(run: runlog.Run) -> None:
    cols = {f"c{i:02d}": i for i in range(12)}
    cols.update(flag=True, label="x", ratio=np.float64(0.25))
    assert len(cols) == 15
    run.log_row("wide", description="fifteen columns", **cols)
    run.log_row("wide", **cols)
    m = run.get_metrics()["wide"]
    assert list(m) == list(cols)
    assert m["c11"] == [11, 11] and m["flag"] == [True, True] and m["label"] == ["x", "x"]
    assert m["ratio"] == [0.25, 0.25]
    run.flush()
    row = run._store.rows(run.id, "wide")[0]
    assert [type(v) for _k, v in row][-3:] == [bool, str, float]
    assert isinstance(row[0][1], int)


def test_table_of_3000_rows_from_lists_and_arrays(run: runlog.Run) -> None:
    n = 3000
    table = {
        "epoch": list(range(n)),
        "loss": np.linspace(1, 0, n),
        "acc": np.linspace(0, 1, n, dtype=np.float32),
        "ok": np.arange(n) % 2 == 0,
        "name": [f"r{i}" for i in range(n)],
    }
    run.log_table("history", table)
    got = run.get_metrics()["history"]
    assert got["epoch"] == list(range(n))
    assert np.array_equal(np.array(got["loss"]), table["loss"])
    assert np.allclose(np.array(got["acc"]), table["acc"])
    assert got["ok"][:3] == [True, False, True]
    assert got["name"][-1] == "r2999"


def test_unicode_names_and_values(run: runlog.Run) -> None:
    run.log("损失 λ", 0.5)
    run.log("émoji 🚀", "ünïcødé ✓")
    run.log_row("表", 列=1, ключ="значение")
    run.tag("étiquette", "✓")
    m = run.get_metrics()
    assert m["损失 λ"] == 0.5
    assert m["émoji 🚀"] == "ünïcødé ✓"
    assert m["表"] == {"列": [1], "ключ": ["значение"]}
    assert run.get_tags()["étiquette"] == "✓"


def test_images_from_path_figure_and_pyplot(run: runlog.Run, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    run.log_image("fig", plot=fig, description="a figure")
    plt.figure()
    plt.plot([3, 2, 1])
    run.log_image("fig", plot=plt)
    png = tmp_path / "img.png"
    fig.savefig(png)
    plt.close("all")
    run.log_image("file", path=png)
    run.flush()
    images = run._store.images(run.id)
    assert [(i["name"], i["step"], i["format"]) for i in images] == [("fig", 0, "png"), ("fig", 1, "png"),
                                                                         ("file", 0, "png")]
    assert images[0]["description"] == "a figure"
    assert run._store.blob(images[2]["hash"]) == png.read_bytes()
    m = run.get_metrics()
    assert isinstance(m["fig"], list) and len(m["fig"]) == 2 and m["file"].startswith("runlog://")


def test_files_streams_folders_and_downloads(run: runlog.Run, tmp_path: Path) -> None:
    import io

    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("A")
    (tmp_path / "d" / "sub" / "b.txt").write_text("B")
    run.upload_file("stream.bin", io.BytesIO(b"\x00\x01"))
    run.upload_file("text.txt", io.StringIO("text"))
    run.upload_files(["one.txt", "two.txt"], [tmp_path / "d" / "a.txt", str(tmp_path / "d" / "sub" / "b.txt")])
    run.upload_folder("folder", tmp_path / "d")
    assert run.get_file_names() == ["folder/a.txt", "folder/sub/b.txt", "one.txt", "stream.bin", "text.txt",
                                    "two.txt"]
    out = tmp_path / "out"
    written = run.download_files(prefix="folder", output_directory=out)
    assert sorted(Path(p).relative_to(out).as_posix() for p in written) == ["folder/a.txt", "folder/sub/b.txt"]
    assert (out / "folder" / "sub" / "b.txt").read_text() == "B"
    flat = run.download_files(prefix="folder/", output_directory=tmp_path / "flat", append_prefix=False)
    assert (tmp_path / "flat" / "sub" / "b.txt").read_text() == "B" and len(flat) == 2
    out.mkdir(exist_ok=True)
    assert Path(run.download_file("stream.bin", output_file_path=out)).read_bytes() == b"\x00\x01"


def test_tags_properties_children_and_details(run: runlog.Run) -> None:
    run.tag("a")
    run.tag("b", 2)
    run.tag("b", 3)
    run.set_tags(["c"])
    run.add_properties({"p": 1})
    run.add_properties({"p": 1})  # the same value again is fine
    assert run.get_tags() == {"a": "", "b": "3", "c": ""}
    assert run.get_properties() == {"p": "1"}
    child = run.child_run(name="fold-1")
    child.log("acc", 0.5)
    anonymous = run.child_run()
    anonymous.complete()
    child.complete()
    assert child.parent is not None and child.parent.id == run.id
    assert child.display_name == "fold-1"
    assert [c.id for c in run.get_children()] == [child.id, anonymous.id]
    assert run.get_metrics(recursive=True)[child.id] == {"acc": 0.5}
    d = run.get_details()
    assert d["runId"] == run.id and d["status"] == "Running" and d["properties"] == {"p": "1"}
    assert child.get_details()["status"] == "Completed" and child.get_details()["endTimeUtc"].endswith("Z")


def test_run_fetched_by_id_prefix_and_experiment_runs(exp: runlog.Experiment) -> None:
    a = exp.start_logging(outputs=None, capture_logging=False, display_name="first")
    a.complete()
    b = exp.start_logging(outputs=None, capture_logging=False, display_name="second")
    b.cancel()
    assert runlog.Run(exp, a.id[:10]).id == a.id
    assert runlog.Run(exp, "tests/second").get_status() == "Canceled"
    assert [r.display_name for r in exp.get_runs()] == ["second", "first"]
    with pytest.raises(runlog.NotFoundError, match="no run"):
        runlog.Run(exp, "tests/absent")
