"""``Workspace`` and ``Experiment``: Azure ML's names for a local store file and a group of runs in it."""

from __future__ import annotations

import os

from runlog import _runlog

TYPE_CHECKING = False  # not typing's: importing typing would double the import time of runlog
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from runlog._run import Run

DEFAULT_STORE_FILE = "runlog.db"

# One native store handle per (process, file): every Workspace naming a file shares it. Keyed by pid so that a forked
# child never reuses the parent's handles (they would raise ForkedProcessError).
_stores: dict[tuple[int, str], _runlog.Store] = {}


def default_store_path() -> str:
    """``$RUNLOG_STORE``, else ``runlog.db`` in the current directory."""
    return os.environ.get("RUNLOG_STORE") or DEFAULT_STORE_FILE


def open_store(path: str | os.PathLike[str]) -> _runlog.Store:
    """The native store handle of ``path`` for this process, opened (and the file created) on first use."""
    key = (os.getpid(), os.path.abspath(os.fspath(path)))
    store = _stores.get(key)
    if store is None:
        store = _runlog.Store(key[1])
        _stores[key] = store
    return store


class Workspace:
    """A local workspace: one runlog store file (Azure ML's workspace, without the cloud).

    ``Workspace.from_config()`` and ``Workspace(subscription_id, resource_group, workspace_name)`` both give the
    default store (``$RUNLOG_STORE``, else ``./runlog.db``), so notebooks that begin with either run unchanged; the
    Azure arguments are accepted and kept, not used. Pass ``store=`` to name another file.
    """

    def __init__(
        self,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace_name: str | None = None,
        *,
        store: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self._name = workspace_name or "local"
        self.store_path: str = os.path.abspath(os.fspath(store) if store is not None else default_store_path())

    @classmethod
    def from_config(cls, path: str | None = None, auth: Any = None, _logger: Any = None, _file_name: Any = None) -> Workspace:
        """The local workspace: the default store. ``path`` names a store file when it ends in ``.db``; an Azure
        ``config.json`` path is accepted and ignored."""
        if path is not None and os.fspath(path).endswith(".db"):
            return cls(store=path)
        return cls()

    @classmethod
    def get(cls, name: str = "local", **kwargs: Any) -> Workspace:
        """The local workspace, whatever its Azure name."""
        return cls(workspace_name=name)

    @property
    def name(self) -> str:
        """The workspace's name (``local`` unless one was given)."""
        return self._name

    @property
    def experiments(self) -> dict[str, Experiment]:
        """The experiments of the store by name."""
        names = sorted({r["experiment"] for r in self._store().runs()})
        return {n: Experiment(self, n) for n in names}

    def _store(self) -> _runlog.Store:
        return open_store(self.store_path)

    def __repr__(self) -> str:
        return f"Workspace(name={self._name!r}, store={self.store_path!r})"


class Experiment:
    """A named group of runs in a workspace (Azure ML's ``Experiment``); the workspace is optional."""

    def __init__(self, workspace: Workspace | None = None, name: str | None = None, **kwargs: Any) -> None:
        if not isinstance(name, str):
            raise TypeError(f"experiment name must be a str, not {type(name).__name__}")
        if not name:
            raise ValueError("experiment name is empty; it must be 1 to 255 characters")
        self.workspace: Workspace = workspace if workspace is not None else Workspace.from_config()
        self.name: str = name

    def start_logging(
        self,
        *args: Any,
        outputs: str | None = "outputs",
        snapshot_directory: str | None = None,
        display_name: str | None = None,
        capture_logging: bool = True,
        **kwargs: Any,
    ) -> Run:
        """Starts an interactive run (as a notebook does). Files under ``outputs`` (relative to the current
        directory) are collected when it ends; ``snapshot_directory`` is stored as files ``snapshot/...``;
        Python's ``logging`` is recorded into the run unless ``capture_logging=False`` or ``RUNLOG_CAPTURE_LOGGING=0``.
        A run not ended explicitly ends when the interpreter exits: completed, or failed after an uncaught exception.
        """
        from runlog._run import Run, install_logging

        run = Run._start(self, display_name=display_name, outputs=outputs)
        if snapshot_directory is not None:
            run.upload_folder("snapshot", snapshot_directory)
        if capture_logging:
            install_logging(run)
        return run

    def get_runs(
        self,
        type: str | None = None,
        tags: Any = None,
        properties: Any = None,
        include_children: bool = False,
    ) -> Iterator[Run]:
        """The experiment's runs, newest first (top-level runs unless ``include_children``), optionally only those
        with the given tags or properties (a key, a list of keys, or a dict of required values)."""
        from runlog._run import Run

        infos = [r for r in self._store().runs() if r["experiment"] == self.name]
        for info in reversed(infos):
            if not include_children and info["parent"] is not None:
                continue
            if not _matches(info["tags"], tags) or not _matches(info["properties"], properties):
                continue
            yield Run(self, info["id"])

    def _store(self) -> _runlog.Store:
        return self.workspace._store()

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r}, workspace={self.workspace.name!r})"


def _matches(have: dict[str, str], want: Any) -> bool:
    if want is None:
        return True
    if isinstance(want, str):
        return want in have
    if isinstance(want, dict):
        return all(k in have and (v is None or have[k] == str(v)) for k, v in want.items())
    return all(k in have for k in want)
