"""``Run``: Azure ML v1's run API over a runlog run.

``Run`` subclasses the compiled ``NativeRun``, so ``run.log(name, value)`` is one call into Rust. Everything else
here converts arguments (numpy arrays to float64 bytes, dicts to column lists, figures to PNG) and shapes what is read
back the way Azure returns it.
"""

from __future__ import annotations

import atexit
import os
import sys
from _weakref import ref as _weakref

from runlog import _runlog
from runlog._experiment import Experiment, Workspace
from runlog._runlog import NativeRun

# Not `typing.TYPE_CHECKING`: importing typing would double the import time of runlog.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from types import TracebackType
    from typing import IO, Any, NoReturn

_AZURE_STATUS = {
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Canceled",
    "crashed": "Crashed",
}

# Runs of this process that the interpreter's exit must end (owned) or flush (attached), in creation order.
_live: list[_weakref[Run]] = []
# Runs of this process by id, so that Run(experiment, run_id) of a run this process already has returns that object
# (two handles of one run in one process would both count automatic steps from the same start).
_by_id: dict[tuple[int, str], _weakref[Run]] = {}
# The last line of an uncaught exception's traceback, set by the excepthook before atexit runs.
_uncaught: str | None = None
# The argument of the last sys.exit()/exit()/quit() of this process, boxed (so that sys.exit(None) counts): the
# interpreter keeps no trace of a SystemExit's code that atexit could read.
_exit_status: tuple[object] | None = None
_context: Run | None = None
_hooks_pid: int | None = None


def _install_exit_hooks() -> None:
    global _hooks_pid
    if _hooks_pid == os.getpid():
        return
    _hooks_pid = os.getpid()
    previous = sys.excepthook

    def excepthook(tp: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        global _uncaught
        import traceback

        # Ctrl-C ends the run as cancelled, as `runlog exec` does; any other exception fails it.
        _uncaught = "" if issubclass(tp, KeyboardInterrupt) else traceback.format_exception_only(tp, value)[-1].strip()
        previous(tp, value, tb)

    sys.excepthook = excepthook
    sys.exit = _RecordingExit(sys.exit)
    import builtins

    for name in ("exit", "quit"):  # site's exit()/quit(), as scripts call them
        if callable(getattr(builtins, name, None)):
            setattr(builtins, name, _RecordingExit(getattr(builtins, name)))
    atexit.register(_at_exit, os.getpid())


class _RecordingExit:
    """Wraps an exit function so that the status it is called with is known at exit (to fail a script's own run
    on ``sys.exit(1)``). It behaves, and prints, as the function it wraps."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __call__(self, status: object = None) -> NoReturn:
        global _exit_status
        import threading

        # sys.exit in another thread ends only that thread, not the process.
        if threading.current_thread() is threading.main_thread():
            _exit_status = (status,)
        self._inner(status)
        raise SystemExit(status)  # not reached: the wrapped function raises

    def __repr__(self) -> str:
        return repr(self._inner)


def _system_metrics_by_env() -> bool:
    """Whether ``RUNLOG_SYSTEM_METRICS`` asks for system metrics (as ``runlog exec`` reads it)."""
    return os.environ.get("RUNLOG_SYSTEM_METRICS", "").strip().lower() in ("1", "true", "yes", "on")


def _exit_ending(status: object) -> tuple[str, str | None]:
    """How a run ends when the process exits with ``status`` (a SystemExit's code): None, 0 and False complete it,
    another number fails it with that exit code, anything else (a message, which Python prints) fails it with the
    message."""
    if status is None or status == 0:  # False == 0 too
        return "completed", None
    if isinstance(status, int):
        return "failed", f"exit code {int(status)}"
    return "failed", str(status)


def _at_exit(pid: int) -> None:
    """Ends this process's runs as the script ends: owned runs complete (or fail after an uncaught exception), runs
    handed over by ``runlog exec`` collect their outputs and flush (their owner ends them)."""
    if os.getpid() != pid:
        return  # a forked child that exits normally: the runs belong to the parent
    for ref in reversed(_live):
        run = ref()
        if run is None or run._ended:
            continue
        try:
            if run._owned:
                if _uncaught == "":
                    run.cancel()
                elif _uncaught is not None:
                    run.fail(_uncaught)
                elif _exit_status is not None:
                    run._finish(*_exit_ending(_exit_status[0]))
                else:
                    run.complete()
            else:
                run._collect_outputs()
                run._flush()
        except Exception as e:  # noqa: BLE001 - the interpreter is exiting; say why instead of a traceback
            print(f"runlog: could not end run {run.id}: {e}", file=sys.stderr)


def install_logging(run: Run) -> None:
    """Records Python's ``logging`` into ``run`` (one handler on the root logger, pointed at the latest run),
    unless ``RUNLOG_CAPTURE_LOGGING`` is ``0``/``false``/``no``."""
    if os.environ.get("RUNLOG_CAPTURE_LOGGING", "").strip().lower() in ("0", "false", "no", "off"):
        return
    from runlog._logging import install

    install(run)


def _floats(value: Any) -> Any:
    """What the native layer takes for a list of numbers: float64 bytes for a numeric numpy array (one C copy, no
    Python loop), else the iterable itself (iterated in Rust)."""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValueError(f"log_list takes a 1-dimensional array, this one has shape {value.shape}")
        if value.dtype.kind in "biuf":
            return np.ascontiguousarray(value, dtype="<f8").tobytes()
        return value.tolist()
    if isinstance(value, (str, bytes)) or _is_mapping(value):
        raise TypeError(f"log_list takes an iterable of numbers, not {type(value).__name__}")
    return value


def _column(value: Any) -> Any:
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValueError(f"a table column must be 1-dimensional, this one has shape {value.shape}")
        if value.dtype.kind == "f":
            return np.ascontiguousarray(value, dtype="<f8").tobytes()
        return value.tolist()
    if isinstance(value, (str, bytes)) or _is_mapping(value) or not hasattr(value, "__iter__"):
        raise TypeError(f"a table column must be a list or array of values, not {type(value).__name__}")
    return value


def _is_mapping(x: Any) -> bool:
    return isinstance(x, dict) or (hasattr(x, "keys") and hasattr(x, "items") and hasattr(x, "__getitem__"))


def _path_arg(what: str, path: Any) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a path (str or os.PathLike), not {type(path).__name__}")
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(2, f"{what} {p!r} does not exist", p)
    return p


class Run(NativeRun):
    """A run: everything logged into it is kept in the store file (Azure ML v1's ``Run``).

    ``Run(experiment, run_id)`` fetches an existing run (an id, an unambiguous id prefix, or ``experiment/name``);
    ``Experiment.start_logging()``, ``Run.get_context()`` and ``run.child_run()`` make new ones. Used as a context
    manager, a run completes at the end of the block, or fails with the exception's text.

    ``run.log(name, value, description="", step=None)`` is implemented in Rust: one call per point, no allocation
    after a name's first use. ``value`` is a float, int, bool or numpy scalar (a point of the series ``name``), or a
    str (a string metric, kept and shown as a string). Threads may share a run.
    """

    _owned: bool
    _ended: bool
    _pid: int
    _outputs: str | None

    def __new__(cls, experiment: Experiment, run_id: str, outputs: str | None = None, **kwargs: Any) -> Run:
        store = experiment._store()
        full = store.resolve_run(run_id)
        ref = _by_id.get((os.getpid(), full))
        existing = ref() if ref is not None else None
        if existing is not None:
            return existing
        run: Run = NativeRun.__new__(cls, store, full)
        return run

    def __init__(self, experiment: Experiment, run_id: str, outputs: str | None = None, **kwargs: Any) -> None:
        if getattr(self, "_setup_done", False):
            return
        self._setup(experiment, owned=False, outputs=outputs)

    # ---- construction -------------------------------------------------------------------------------------------

    def _setup(self, experiment: Experiment, owned: bool, outputs: str | None) -> None:
        self._setup_done = True
        self._experiment = experiment
        self._owned = owned
        self._ended = False
        self._outputs = os.path.abspath(outputs) if outputs else None
        self._children = 0
        self._pid = os.getpid()
        _live.append(_weakref(self))
        _by_id[(os.getpid(), self.id)] = _weakref(self)
        _install_exit_hooks()

    @classmethod
    def _start(
        cls,
        experiment: Experiment,
        display_name: str | None = None,
        outputs: str | None = "outputs",
        parent: Run | None = None,
    ) -> Run:
        store = experiment._store()
        run: Run
        if parent is not None:
            run = NativeRun.__new__(cls, store, None, None, display_name, parent)
        else:
            run = NativeRun.__new__(cls, store, None, experiment.name, display_name, None)
        run._setup(experiment, owned=True, outputs=outputs)
        if parent is None and _system_metrics_by_env():
            run.start_system_metrics()
        return run

    @staticmethod
    def get_context(allow_offline: bool = True, used_for_context_manager: bool = False, **kwargs: Any) -> Run:
        """The run of this script: the one handed over by ``runlog exec`` (``RUNLOG_STORE`` + ``RUNLOG_RUN_ID``),
        else a new run in ``$RUNLOG_STORE`` or ``./runlog.db`` (experiment ``$RUNLOG_EXPERIMENT``, else the script's
        name) that completes when the script ends, or fails with the last line of an uncaught exception's traceback.
        Never an offline run that keeps nothing. The same run is returned on every call in a process. Python's
        ``logging`` is recorded into it unless ``capture_logging=False`` or ``RUNLOG_CAPTURE_LOGGING=0``."""
        global _context
        if _context is not None and _context._pid == os.getpid():
            return _context
        run_id = os.environ.get("RUNLOG_RUN_ID")
        if run_id:
            store_path = os.environ.get("RUNLOG_STORE")
            if not store_path:
                raise _runlog.RunlogError("RUNLOG_RUN_ID is set but RUNLOG_STORE is not; it must name the store file")
            ws = Workspace(store=store_path)
            info = ws._store().run_info(run_id)
            run = Run(Experiment(ws, info["experiment"]), info["id"], outputs="outputs")
        else:
            name = os.environ.get("RUNLOG_EXPERIMENT") or _script_name()
            run = Run._start(Experiment(Workspace(), name), outputs="outputs")
        if kwargs.get("capture_logging", True):
            install_logging(run)
        _context = run
        return run

    @staticmethod
    def get(workspace: Workspace, run_id: str) -> Run:
        """Fetches a run of the workspace by id (or id prefix, or ``experiment/name``)."""
        info = workspace._store().run_info(run_id)
        return Run(Experiment(workspace, info["experiment"]), info["id"])

    # ---- identity -----------------------------------------------------------------------------------------------

    @property
    def experiment(self) -> Experiment:
        """The run's experiment."""
        return self._experiment

    @property
    def display_name(self) -> str:
        """The run's display name."""
        return self._name

    @property
    def name(self) -> str:
        """The run's display name (Azure's ``name``)."""
        return self._name

    @property
    def parent(self) -> Run | None:
        """The parent run, for child runs."""
        parent = self._info()["parent"]
        return None if parent is None else Run(self._experiment, parent)

    def get_status(self) -> str:
        """``Running``, ``Completed``, ``Failed``, ``Canceled``, or ``Crashed`` (ended without a word: no heartbeat)."""
        return _AZURE_STATUS[self._info()["status"]]

    def get_details(self) -> dict[str, Any]:
        """The run's details as Azure returns them: ids, status, times (ISO 8601 UTC), properties, tags, error."""
        info = self._info()
        details: dict[str, Any] = {
            "runId": info["id"],
            "displayName": info["name"],
            "experiment": info["experiment"],
            "target": "local",
            "status": _AZURE_STATUS[info["status"]],
            "startTimeUtc": _iso(info["started_at"]),
            "endTimeUtc": _iso(info["ended_at"]) if info["ended_at"] is not None else None,
            "parentRunId": info["parent"],
            "properties": info["properties"],
            "tags": info["tags"],
            "inputDatasets": [],
            "outputDatasets": [],
            "logFiles": {},
        }
        if info["reason"] is not None:
            details["error"] = {"error": {"message": info["reason"]}}
        return details

    def _info(self) -> dict[str, Any]:
        self._flush_if_mine()
        return self._store.run_info(self.id)

    def _flush_if_mine(self) -> None:
        if not self._ended:
            self._flush()

    # ---- logging ------------------------------------------------------------------------------------------------

    def log_list(self, name: str, value: Iterable[Any], description: str = "") -> None:
        """Logs a list of numbers (any iterable: a list, a generator, a numpy array) as the next points of ``name``."""
        self._log_list(name, _floats(value), description)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """Logs one row of named columns (``run.log_row("eval", epoch=1, acc=0.9)``); rows of a name form a table."""
        self._log_row(name, list(kwargs.items()), description or "")

    def log_table(self, name: str, value: Mapping[str, Iterable[Any]], description: str = "") -> None:
        """Logs a table: a dict of equal-length columns (lists or numpy arrays)."""
        if not _is_mapping(value):
            raise TypeError(f"log_table takes a dict of column lists, not {type(value).__name__}")
        self._log_table(name, [(str(k), _column(v)) for k, v in value.items()], description)

    def log_image(self, name: str, path: str | os.PathLike[str] | None = None, plot: Any = None, description: str = "") -> None:
        """Logs a PNG or JPEG image: exactly one of ``path`` (a file) or ``plot`` (a matplotlib figure, or the
        ``matplotlib.pyplot`` module for its current figure, saved as PNG)."""
        if (path is None) == (plot is None):
            raise ValueError(
                "log_image takes exactly one of path or plot; "
                + ("both were given" if path is not None else "neither was given")
            )
        if path is not None:
            self._log_image(name, _path_arg("image path", path), description)
            return
        savefig = getattr(plot, "savefig", None)
        if savefig is None:
            raise TypeError(f"plot must be a matplotlib figure or matplotlib.pyplot, not {type(plot).__name__}")
        import io

        buf = io.BytesIO()
        savefig(buf, format="png")
        self._log_image(name, buf.getvalue(), description)

    def _log_azure_chart(self, kind: str, name: str, value: Any, description: str) -> None:
        from runlog._charts import to_json

        self._log_chart(name, kind, to_json(kind, name, value))
        if description:
            self._describe(name, description)

    def log_confusion_matrix(self, name: str, value: Any, description: str = "") -> None:
        """Logs a confusion matrix in Azure's schema (a dict or JSON string with ``schema_type``,
        ``schema_version`` and ``data: {class_labels, matrix}``); validated before it is stored."""
        self._log_azure_chart("confusion_matrix", name, value, description)

    def log_accuracy_table(self, name: str, value: Any, description: str = "") -> None:
        """Logs an accuracy table in Azure's schema (``probability_tables``, ``percentile_tables``, thresholds,
        ``class_labels``); validated before it is stored."""
        self._log_azure_chart("accuracy_table", name, value, description)

    def log_predictions(self, name: str, value: Any, description: str = "") -> None:
        """Logs predictions in Azure's schema (``bin_averages``, ``bin_errors``, ``bin_counts``, ``bin_edges``)."""
        self._log_azure_chart("predictions", name, value, description)

    def log_residuals(self, name: str, value: Any, description: str = "") -> None:
        """Logs residuals in Azure's schema (``bin_edges``, ``bin_counts``)."""
        self._log_azure_chart("residuals", name, value, description)

    # ---- files --------------------------------------------------------------------------------------------------

    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str] | IO[Any]) -> None:
        """Stores a file (a path, or a stream read to its end) in the run under ``name``; content-addressed: the
        same bytes are stored once however often they are uploaded."""
        if isinstance(path_or_stream, (str, os.PathLike)):
            p = _path_arg("file", path_or_stream)
            if os.path.isdir(p):
                raise IsADirectoryError(21, f"{p!r} is a directory; use upload_folder", p)
            self._upload_file(name, p)
            return
        read = getattr(path_or_stream, "read", None)
        if read is None:
            raise TypeError(f"upload_file takes a path or a readable stream, not {type(path_or_stream).__name__}")
        data = read()
        if isinstance(data, str):
            data = data.encode()
        self._upload_bytes(name, bytes(data))

    def upload_files(self, names: list[str], paths: list[str | os.PathLike[str]], **kwargs: Any) -> None:
        """Stores several files: ``names[i]`` from ``paths[i]``."""
        names, paths = list(names), list(paths)
        if len(names) != len(paths):
            raise ValueError(f"upload_files got {len(names)} names for {len(paths)} paths; they must pair up")
        for n, p in zip(names, paths):
            self.upload_file(n, p)

    def upload_folder(self, name: str, path: str | os.PathLike[str], **kwargs: Any) -> None:
        """Stores every file under the folder ``path`` as ``name/<relative path>``."""
        root = _path_arg("folder", path)
        if not os.path.isdir(root):
            raise NotADirectoryError(20, f"{root!r} is not a directory", root)
        for rel in _walk(root):
            self._upload_file(f"{name.rstrip('/')}/{rel}", os.path.join(root, rel))

    def get_file_names(self) -> list[str]:
        """The names of the run's files, sorted."""
        self._flush_if_mine()
        return sorted({f[0] for f in self._store.files(self.id)})

    def _latest_files(self) -> dict[str, str]:
        self._flush_if_mine()
        return {name: h for (name, h, _size, _at) in self._store.files(self.id)}

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None, **kwargs: Any) -> str:
        """Writes the run's file ``name`` to ``output_file_path`` (a file, or an existing folder; default: the
        file's base name in the current folder) and returns the path written."""
        files = self._latest_files()
        if name not in files:
            raise FileNotFoundError(2, f"run {self.id} has no file {name!r} (it has {len(files)} files)", name)
        dest = os.fspath(output_file_path) if output_file_path is not None else os.path.basename(name)
        if os.path.isdir(dest):
            dest = os.path.join(dest, os.path.basename(name))
        parent = os.path.dirname(dest)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(dest, "wb") as f:
            f.write(self._store.blob(files[name]))
        return dest

    def download_files(
        self,
        prefix: str | None = None,
        output_directory: str | os.PathLike[str] | None = None,
        append_prefix: bool = True,
        **kwargs: Any,
    ) -> list[str]:
        """Writes every file whose name starts with ``prefix`` under ``output_directory`` (default: the current
        folder), keeping their relative names (without the prefix if ``append_prefix=False``); returns the paths."""
        out = os.fspath(output_directory) if output_directory is not None else "."
        written = []
        for name, h in sorted(self._latest_files().items()):
            if prefix and not name.startswith(prefix):
                continue
            rel = name if append_prefix or not prefix else name[len(prefix) :].lstrip("/")
            dest = os.path.join(out, *rel.split("/"))
            os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
            with open(dest, "wb") as f:
                f.write(self._store.blob(h))
            written.append(dest)
        return written

    # ---- tags and properties ------------------------------------------------------------------------------------

    def tag(self, key: str, value: Any = None) -> None:
        """Sets a tag (``value`` defaults to the empty string); a later value of the key replaces it."""
        self._set_tag(key, "" if value is None else str(value))

    def set_tags(self, tags: Mapping[str, Any] | Iterable[str] | str) -> None:
        """Sets several tags: a dict, or keys (each tagged with the empty string)."""
        if isinstance(tags, str):
            tags = [tags]
        if _is_mapping(tags):
            for k, v in tags.items():  # type: ignore[attr-defined]
                self.tag(k, v)
        else:
            for k in tags:
                self.tag(k)

    def get_tags(self) -> dict[str, str]:
        """The run's tags (latest value of each key)."""
        return dict(self._info()["tags"])

    def add_properties(self, properties: Mapping[str, Any]) -> None:
        """Adds write-once properties; setting a key again to another value raises ValueError."""
        for k, v in properties.items():
            self._add_property(k, str(v))

    def get_properties(self) -> dict[str, str]:
        """The run's properties."""
        return dict(self._info()["properties"])

    # ---- children -----------------------------------------------------------------------------------------------

    def child_run(self, name: str | None = None, run_id: str | None = None, outputs: str | None = None) -> Run:
        """Starts a child run in the same experiment (named ``name``, else ``<parent>-child-<n>``)."""
        self._children += 1
        return Run._start(
            self._experiment,
            display_name=name or f"{self._name}-child-{self._children}",
            outputs=outputs,
            parent=self,
        )

    def get_children(self, recursive: bool = False) -> Iterator[Run]:
        """The child runs, oldest first (and theirs, with ``recursive``)."""
        for info in self._store.children(self.id):
            child = Run(self._experiment, info["id"])
            yield child
            if recursive:
                yield from child.get_children(recursive=True)

    # ---- ending -------------------------------------------------------------------------------------------------

    def _collect_outputs(self) -> None:
        """Stores the files under the run's outputs folder as ``outputs/<relative path>`` (content-addressed, so an
        unchanged file costs no new bytes), as Azure uploads ``./outputs`` when a run ends."""
        out = self._outputs
        if out is None or not os.path.isdir(out):
            return
        for rel in _walk(out):
            self._upload_file(f"outputs/{rel}", os.path.join(out, rel))

    def _finish(self, status: str, reason: str | None) -> None:
        if self._ended:
            return
        self._collect_outputs()
        self._end(status, reason)
        self._ended = True

    def complete(self, _set_status: bool = True) -> None:
        """Ends the run as completed (after collecting its outputs) and waits until all it logged is stored."""
        self._finish("completed", None)

    def fail(self, error_details: Any = None, error_code: Any = None, _set_status: bool = True) -> None:
        """Ends the run as failed, with ``error_details`` (an exception or a text) as the reason."""
        if isinstance(error_details, BaseException):
            reason = f"{type(error_details).__name__}: {error_details}"
        elif error_details is None:
            reason = "failed"
        else:
            reason = str(error_details)
        self._finish("failed", reason)

    def cancel(self) -> None:
        """Ends the run as cancelled."""
        self._finish("cancelled", None)

    def flush(self, timeout_seconds: int = 300) -> None:
        """Waits until everything logged so far is stored in the file (durable if the process crashes)."""
        self._flush()

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.complete()
        elif isinstance(exc, SystemExit):
            self._finish(*_exit_ending(exc.code))
        elif isinstance(exc, KeyboardInterrupt):
            self.cancel()
        else:
            self.fail(exc)

    # ---- reading back -------------------------------------------------------------------------------------------

    def get_metrics(
        self, name: str | None = None, recursive: bool = False, run_type: Any = None, populate: bool = False
    ) -> dict[str, Any]:
        """The run's metrics as Azure returns them: a scalar or string logged once is its value, logged repeatedly a
        list; rows and tables a dict of column lists; images and charts a reference (``runlog://...``). With
        ``recursive``, a dict of run id to metrics for this run and its descendants."""
        if recursive:
            out = {self.id: self.get_metrics(name)}
            for child in self.get_children(recursive=True):
                out[child.id] = child.get_metrics(name)
            return out
        self._flush_if_mine()
        store, rid = self._store, self.id
        metrics: dict[str, Any] = {}
        for mname, kind, _count, _description in store.metrics(rid):
            if name is not None and mname != name:
                continue
            if kind == "scalar":
                metrics[mname] = _one_or_list(store.series(rid, mname)[1])
            elif kind == "text":
                metrics[mname] = _one_or_list([t for (_n, _s, t) in store.texts(rid, mname)])
            elif kind == "row":
                metrics[mname] = _columns(store.rows(rid, mname))
            elif kind == "table":
                metrics[mname] = _columns([row for table in store.tables(rid, mname) for row in _table_rows(table)])
            elif kind == "image":
                refs = [f"runlog://{rid}/images/{mname}/{i['step']}.{i['format']}" for i in store.images(rid, mname)]
                metrics[mname] = _one_or_list(refs)
            elif kind == "chart":
                refs = [f"runlog://{rid}/charts/{mname}/{step}" for (_n, step, _doc) in store.charts(rid, mname)]
                metrics[mname] = _one_or_list(refs)
        return metrics

    def get_chart(self, name: str, step: int | None = None) -> dict[str, Any]:
        """A chart logged with ``log_confusion_matrix`` & co., as the dict in Azure's schema: its last version, or
        the one at ``step`` (a name logged again keeps each version). KeyError if there is none."""
        from runlog._charts import from_json

        self._flush_if_mine()
        versions = [(s, doc) for (_n, s, doc) in self._store.charts(self.id, name) if step is None or s == step]
        if not versions:
            at = "" if step is None else f" at step {step}"
            raise KeyError(f"run {self.id} has no chart {name!r}{at}")
        return from_json(versions[-1][1])

    def get_logs(self) -> list[tuple[str, str, str, str]]:
        """The run's log lines: ``(stream, level, logger, message)``."""
        self._flush_if_mine()
        return self._store.log_lines(self.id)

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, experiment={self._experiment.name!r}, display_name={self._name!r})"



def _one_or_list(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else values


def _table_rows(table: list[tuple[str, list[Any]]]) -> Iterator[list[tuple[str, Any]]]:
    if not table:
        return
    n = len(table[0][1])
    for i in range(n):
        yield [(k, vals[i]) for k, vals in table]


def _columns(rows: Iterable[list[tuple[str, Any]]]) -> dict[str, list[Any]]:
    """Rows of (column, value) as a dict of column lists; a column missing from a row holds None there."""
    cols: dict[str, list[Any]] = {}
    n = 0
    for row in rows:
        for k, v in row:
            if k not in cols:
                cols[k] = [None] * n
            cols[k].append(v)
        n += 1
        for vals in cols.values():
            if len(vals) < n:
                vals.append(None)
    return cols


def _walk(root: str) -> list[str]:
    """Files under root as sorted relative POSIX paths."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in filenames:
            full = os.path.join(dirpath, f)
            if os.path.isfile(full):
                out.append(os.path.relpath(full, root).replace(os.sep, "/"))
    return sorted(out)


def _script_name() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c") else "")
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem or "default"


def _iso(ms: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc).isoformat().replace("+00:00", "Z")
