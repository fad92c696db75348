"""Bad input raises Python's exceptions with clear messages, and the run keeps working afterwards."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import runlog


def still_works(run: runlog.Run) -> None:
    before = run.get_metrics().get("alive", [])
    before = before if isinstance(before, list) else [before]
    run.log("alive", 1.0)
    after = run.get_metrics()["alive"]
    after = after if isinstance(after, list) else [after]
    assert len(after) == len(before) + 1


CASES = [
    # (call, exception type, message pattern)
    (lambda r: r.log("x" * 300, 1.0), ValueError, r'metric name "x+…" is 300 characters, the limit is 255'),
    (lambda r: r.log("", 1.0), ValueError, r"metric name is empty; it must be 1 to 255 characters"),
    (lambda r: r.log("bad\nname", 1.0), ValueError, r"control character"),
    (lambda r: r.log("x", [1, 2]), TypeError, r'value of metric "x" must be a float, int, bool or numpy scalar, not list'),
    (lambda r: r.log("x", None), TypeError, r"not NoneType"),
    (lambda r: r.log("x", b"bytes"), TypeError, r"must be a number, not bytes"),
    (lambda r: r.log("x", 10**400), ValueError, r"too large for a 64-bit float"),
    (lambda r: r.log("x", 1.0, step="3"), TypeError, r"step"),
    (lambda r: r.log_list("l", [1, "two", 3]), TypeError, r'item 1 of list metric "l" must be a number, not str'),
    (lambda r: r.log_list("l", 5), TypeError, r"must be an iterable of numbers, not int"),
    (lambda r: r.log_list("l", "abc"), TypeError, r"log_list takes an iterable of numbers, not str"),
    (lambda r: r.log_list("l", np.zeros((2, 2))), ValueError, r"1-dimensional array, this one has shape \(2, 2\)"),
    (lambda r: r.log_row("row"), ValueError, r'row "row" has no columns; a row needs at least 1'),
    (lambda r: r.log_row("row", a=object()), TypeError, r'column "a" of row "row" must be a bool, int, float or str'),
    (lambda r: r.log_row("row", a=2**70), ValueError, r"does not fit in 64 bits"),
    (lambda r: r.log_row("row", **{f"c{i}": i for i in range(1025)}), ValueError, r"has 1025 columns, the limit is 1024"),
    (lambda r: r.log_table("t", {"a": [1, 2], "b": [1]}), ValueError,
     r'table "t": column "b" has 1 values but column "a" has 2; columns must have equal lengths'),
    (lambda r: r.log_table("t", [1, 2]), TypeError, r"log_table takes a dict of column lists, not list"),
    (lambda r: r.log_table("t", {"a": 3}), TypeError, r"a table column must be a list or array of values, not int"),
    (lambda r: r.log_image("i"), ValueError, r"exactly one of path or plot; neither was given"),
    (lambda r: r.log_image("i", path="x.png", plot=object()), ValueError, r"exactly one of path or plot; both were given"),
    (lambda r: r.log_image("i", path="/nonexistent/x.png"), FileNotFoundError, r"image path '/nonexistent/x.png' does not exist"),
    (lambda r: r.log_image("i", plot=object()), TypeError, r"plot must be a matplotlib figure or matplotlib.pyplot"),
    (lambda r: r.log_image("i", plot=_NotAnImage()), ValueError, r'image "i" is Gif, not PNG or JPEG'),
    (lambda r: r.upload_file("f", "/nonexistent/file.txt"), FileNotFoundError, r"file '/nonexistent/file.txt' does not exist"),
    (lambda r: r.upload_file("f", 42), TypeError, r"upload_file takes a path or a readable stream, not int"),
    (lambda r: r.upload_folder("f", "/nonexistent/dir"), FileNotFoundError, r"folder '/nonexistent/dir' does not exist"),
    (lambda r: r.upload_files(["a", "b"], ["x"]), ValueError, r"upload_files got 2 names for 1 paths"),
    (lambda r: r.download_file("absent.txt"), FileNotFoundError, r"has no file 'absent.txt'"),
    (lambda r: r.log_confusion_matrix("cm", {"data": {}}), ValueError,
     r'confusion matrix "cm": is missing "schema_type", "schema_version"; Azure\'s confusion_matrix schema needs'),
    (lambda r: r.log_confusion_matrix("cm", "{not json"), ValueError, r'confusion matrix "cm" is not valid JSON'),
    (lambda r: r.log_residuals("res", {"schema_type": "residuals", "schema_version": "1.0.0",
                                        "data": {"bin_edges": [0, float("nan")], "bin_counts": [1]}}), ValueError,
     r"residuals 'res' holds NaN or an infinity; chart values must be finite"),
    (lambda r: r.log_residuals("res", {"schema_type": "residuals", "schema_version": "1.0.0",
                                        "data": {"bin_edges": [0, 1]}}), ValueError,
     r'"data" is missing "bin_counts"'),
    (lambda r: r.log_confusion_matrix("cm", 3), TypeError, r"must be a dict or a JSON string"),
]


class _NotAnImage:
    def savefig(self, buf: io.BytesIO, format: str) -> None:
        buf.write(b"GIF89a not a png")


@pytest.mark.parametrize("call,exc,pattern", CASES, ids=[c[2][:40] for c in CASES])
def test_bad_input_raises_and_the_run_keeps_working(run: runlog.Run, call, exc, pattern) -> None:
    with pytest.raises(exc, match=pattern):
        call(run)
    still_works(run)


def test_write_once_property_names_both_values(run: runlog.Run) -> None:
    run.add_properties({"k": "v1"})
    with pytest.raises(ValueError, match=r'property "k" is already set to "v1"; it is write-once and cannot become "v2"'):
        run.add_properties({"k": "v2"})
    still_works(run)


def test_upload_of_a_directory_is_refused(run: runlog.Run, tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match="use upload_folder"):
        run.upload_file("d", tmp_path)
    with pytest.raises(NotADirectoryError):
        (tmp_path / "f").write_text("x")
        run.upload_folder("f", tmp_path / "f")
    still_works(run)


def test_a_missing_experiment_name_is_refused() -> None:
    with pytest.raises(TypeError, match="experiment name must be a str, not NoneType"):
        runlog.Experiment()
    with pytest.raises(ValueError, match="experiment name is empty"):
        runlog.Experiment(name="")


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "not-a-store.db"
    p.write_bytes(b"hello, this is no SQLite file" * 100)
    with pytest.raises(runlog.StoreError):
        runlog.Experiment(runlog.Workspace(store=p), "x").start_logging(outputs=None)
