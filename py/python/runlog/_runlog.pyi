"""Type stubs of the compiled module ``runlog._runlog`` (the Rust binding). Use the public names of ``runlog``."""

import os
import pathlib
from typing import Any, Iterable

__version__: str

class RunlogError(Exception):
    """An error of the runlog store that no built-in exception fits."""

class NotFoundError(LookupError):
    """A run, metric, file or blob that does not exist."""

class StoreError(OSError):
    """The store file cannot be used: unreadable, not a runlog store, newer, or its writer failed."""

class ForkedProcessError(RuntimeError):
    """A handle opened before fork() was used in the forked child."""

def cli_main(argv: list[str]) -> int:
    """Runs the ``runlog`` command line (``argv[0]`` is the program name) and returns its exit code."""

def _after_fork_in_child() -> None:
    """Marks every existing handle as belonging to the parent (registered with ``os.register_at_fork``)."""

class Store:
    """An open store file (the writer of this process, shared by all handles, and a reader)."""

    def __init__(self, path: str | os.PathLike[str]) -> None: ...
    @property
    def path(self) -> pathlib.Path:
        """The absolute path of the store file."""
    def flush(self) -> None:
        """Waits until everything logged by this process into the store is committed."""
    def resolve_run(self, spec: str) -> str:
        """The full id of the run named by an id, an unambiguous id prefix, or ``experiment/name``."""
    def runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first."""
    def run_info(self, run_id: str) -> dict[str, Any]:
        """One run: id, experiment, name, parent, status, reason, started_at, ended_at, params, tags, properties."""
    def children(self, run_id: str) -> list[dict[str, Any]]:
        """The child runs of a run."""
    def metrics(self, run_id: str) -> list[tuple[str, str, int, str | None]]:
        """``(name, kind, count, description)`` per metric name; kind: scalar, row, table, image or text."""
    def series(self, run_id: str, name: str) -> tuple[list[int], list[float], list[int]]:
        """A scalar series in step order: steps, values, timestamps (ms)."""
    def rows(self, run_id: str, name: str) -> list[list[tuple[str, Any]]]:
        """The rows of a row metric."""
    def tables(self, run_id: str, name: str) -> list[list[tuple[str, list[Any]]]]:
        """The tables logged under a name."""
    def images(self, run_id: str, name: str | None = None) -> list[dict[str, Any]]:
        """The images of a run (of one name, or all)."""
    def files(self, run_id: str) -> list[tuple[str, str, int, int]]:
        """``(name, hash, size, timestamp_ms)`` of each uploaded file, oldest first."""
    def artifacts(self, run_id: str) -> list[tuple[str, str | bytes, int]]:
        """``(path, blob hash or the bytes, size)`` of each artifact MLflow sees: images, charts, files."""
    def texts(self, run_id: str, name: str | None = None) -> list[tuple[str, int | None, str]]:
        """``(name, step, text)`` of each string metric."""
    def charts(self, run_id: str, name: str | None = None) -> list[tuple[str, int | None, str]]:
        """``(name, step, document as JSON text)`` of each chart version."""
    def log_lines(self, run_id: str, stream: str | None = None) -> list[tuple[str, str, str, str]]:
        """``(stream, level, target, message)`` of each log line."""
    def blob(self, hash: str) -> bytes:
        """The bytes of a file or image by content hash."""
    def experiment_details(self) -> list[dict[str, Any]]:
        """Every experiment, oldest first: id (local int), name, created_at, updated_at, tags."""
    def create_experiment(self, name: str) -> None:
        """Creates an experiment if it does not exist; waits for the commit."""
    def set_experiment_tag(self, name: str, key: str, value: str | None) -> None:
        """Sets (``None``: removes) a tag of an experiment, creating the experiment if new; waits for the commit."""
    def latest_points(self, run_id: str) -> dict[str, tuple[float, int, int]]:
        """``{name: (value, timestamp_ms, step)}``: each scalar series' latest point by MLflow's rule."""

class NativeRun:
    """The compiled half of ``runlog.Run``."""

    def __new__(
        cls,
        store: Store,
        run_id: str | None = None,
        experiment: str | None = None,
        name: str | None = None,
        parent: NativeRun | None = None,
        parent_id: str | None = None,
        started_at_ms: int | None = None,
    ) -> Any: ...
    def log(self, name: str, value: float | int | bool | str | Any, description: str = "", step: int | None = None) -> None:
        """Logs one value: a number as the next point of the series ``name`` (at ``step`` if given), a str as a
        string metric. One call into Rust; nothing is allocated after a name's first use."""
    @property
    def id(self) -> str:
        """The run's id (32 hex digits)."""
    @property
    def _name(self) -> str: ...
    @property
    def _experiment_name(self) -> str: ...
    @property
    def _store(self) -> Store: ...
    def _log_list(self, name: str, values: bytes | Iterable[Any], description: str = "") -> None: ...
    def _log_row(self, name: str, columns: list[tuple[str, Any]], description: str = "") -> None: ...
    def _log_table(self, name: str, columns: list[tuple[str, Any]], description: str = "") -> None: ...
    def _log_image(self, name: str, image: bytes | str, description: str = "") -> None: ...
    def _log_line(self, stream: str, level: str, target: str, message: str) -> None: ...
    def _describe(self, name: str, description: str) -> None: ...
    def _set_tag(self, key: str, value: str) -> None: ...
    def _add_property(self, key: str, value: str) -> None: ...
    def _upload_file(self, name: str, path: str) -> None: ...
    def _upload_bytes(self, name: str, data: bytes) -> None: ...
    def _log_chart(self, name: str, kind: str, json: str) -> None: ...
    def start_system_metrics(self, interval_seconds: float | None = None) -> None:
        """Samples CPU, memory, disk and network I/O (and NVIDIA GPUs when their library is present) into the
        run's ``system/...`` series every ``interval_seconds`` (default 10, at least 0.1) until the run ends.
        ``RUNLOG_SYSTEM_METRICS=1`` starts it for a script's own top-level runs."""
    def _end(self, status: str, reason: str | None = None) -> None: ...
    def _end_at(self, status: str, ended_at_ms: int, reason: str | None = None) -> None: ...
    def _log_batch(
        self,
        metrics: list[tuple[str, float, int, int]],
        params: list[tuple[str, str]],
        tags: list[tuple[str, str]],
    ) -> None: ...
    def _flush(self) -> None: ...
    def _make_active(self) -> None: ...
