"""MLflow's tracking store and artifact repository on a runlog store (the ``runlog:`` tracking URI).

``MLFLOW_TRACKING_URI=runlog:PATH`` (relative to the current directory) or ``runlog:///ABSOLUTE/PATH`` sends every
MLflow call into the runlog store file PATH; a PATH that is a directory (or ends in ``/``) means ``PATH/runlog.db``.
MLflow finds both classes through the entry points ``mlflow.tracking_store`` and ``mlflow.artifact_repository``
(scheme ``runlog``) of this package.

What MLflow keeps maps onto what runlog keeps (docs/python.md, "MLflow plugin"):

- an MLflow experiment is a runlog experiment (its id is the experiment's local id; runlog's ``Default`` is ``"0"``);
  its MLflow name, lifecycle stage and tags are experiment tags, appended, never rewritten;
- an MLflow run is a runlog run with the same id; params, tags and metric points (with the client's timestamps) are
  the run's params, tags and scalar points; the nesting tag ``mlflow.parentRunId`` makes it a child run;
- the run's status and end time are the runlog run's status record; deletion and restoration are appended tags;
- artifacts are files of the run (content-addressed blobs in the store), named by their artifact path.

Search uses MLflow's own evaluator (``SearchUtils``, the one MLflow's file store uses) over runs built from the store,
so filters, order_by and page tokens mean what they mean in MLflow. Everything MLflow 3 adds beyond that (logged
models, traces, datasets, prompts, assessments, scorers, gateways) raises ``MlflowException`` with
``FEATURE_DISABLED``: nothing is dropped silently.
"""

# MLflow's own functions (validation, search, names) carry no annotations: calling them is this module's job.
# mypy: disallow-untyped-calls=False

from __future__ import annotations

import os
import posixpath
import re
import threading
import urllib.parse
from typing import Any

from mlflow.entities import (
    Experiment,
    ExperimentTag,
    FileInfo,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
    RunTag,
    ViewType,
)
from mlflow.entities.run_info import check_run_is_active
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    FEATURE_DISABLED,
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.artifact.artifact_repo import ArtifactRepository
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT, SEARCH_MAX_RESULTS_THRESHOLD
from mlflow.store.tracking.abstract_store import AbstractStore
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME, MLFLOW_USER
from mlflow.utils.name_utils import _generate_random_name
from mlflow.utils.search_utils import SearchExperimentsUtils, SearchUtils
from mlflow.utils.time import get_current_time_millis
from mlflow.utils.validation import (
    _validate_batch_log_data,
    _validate_batch_log_limits,
    _validate_experiment_artifact_location_length,
    _validate_experiment_name,
    _validate_experiment_tag,
    _validate_metric_name,
    _validate_param_keys_unique,
    _validate_run_id,
    _validate_tag_name,
)

from runlog import _runlog
from runlog._experiment import open_store

SCHEME = "runlog"
#: The store file a directory names.
DEFAULT_FILE = "runlog.db"
#: The runlog experiment that is MLflow's default experiment.
DEFAULT_EXPERIMENT_NAME = "Default"
DEFAULT_EXPERIMENT_ID = "0"
#: Keys of runlog tags and properties that hold MLflow's bookkeeping; MLflow never shows them as tags.
INTERNAL = "runlog.mlflow."
EXP_NAME = INTERNAL + "name"
EXP_LIFECYCLE = INTERNAL + "lifecycleStage"
EXP_ARTIFACT_LOCATION = INTERNAL + "artifactLocation"
RUN_LIFECYCLE = INTERNAL + "lifecycleStage"
RUN_DELETED_TIME = INTERNAL + "deletedTime"
RUN_STATUS = INTERNAL + "status"
PROP_EXPERIMENT_ID = INTERNAL + "experimentId"
PROP_USER_ID = INTERNAL + "userId"

# runlog's status for each final MLflow status, and back.
_RUNLOG_END = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "cancelled"}
_MLFLOW_STATUS = {
    "running": "RUNNING",
    "completed": "FINISHED",
    "failed": "FAILED",
    "cancelled": "KILLED",
    # MLflow has no "crashed": a run whose process died without ending it failed.
    "crashed": "FAILED",
}
_PLAIN_NUMBERS = (float, int)
_ARTIFACT_URI = re.compile(r"^(?P<store>.+)/runs/(?P<run>[0-9a-f]{32})/artifacts(?:/(?P<path>.*))?$")


def store_path_of(uri: str) -> str:
    """The absolute path of the store file a ``runlog:`` URI names (its directory is created if missing)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme != SCHEME:
        raise MlflowException(f"{uri!r} is not a runlog URI (runlog:PATH or runlog:///ABSOLUTE/PATH)",
                              INVALID_PARAMETER_VALUE)
    if parsed.netloc:
        raise MlflowException(
            f"runlog URI {uri!r} names the host {parsed.netloc!r}; a runlog store is a local file: use runlog:PATH "
            "(relative to the current directory) or runlog:///ABSOLUTE/PATH", INVALID_PARAMETER_VALUE)
    path = urllib.parse.unquote(parsed.path)
    if not path:
        raise MlflowException(f"runlog URI {uri!r} names no path: use runlog:PATH or runlog:///ABSOLUTE/PATH",
                              INVALID_PARAMETER_VALUE)
    is_dir = path.endswith("/") or os.path.isdir(path)
    path = os.path.abspath(path)
    if is_dir:
        path = os.path.join(path, DEFAULT_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def _store_uri(path: str) -> str:
    return f"{SCHEME}://{urllib.parse.quote(path)}"


def _mlflow_error(e: Exception) -> MlflowException:
    """A runlog error as the MlflowException MLflow's own stores raise for the same case."""
    if isinstance(e, _runlog.NotFoundError):
        return MlflowException(str(e), RESOURCE_DOES_NOT_EXIST)
    if isinstance(e, (ValueError, TypeError)):
        return MlflowException(str(e), INVALID_PARAMETER_VALUE)
    return MlflowException(str(e), INTERNAL_ERROR)


def _not_supported(name: str) -> Any:
    def unsupported(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise MlflowException(
            f"{name} is not supported by the runlog tracking store: runlog keeps experiments, runs, params, metrics, "
            "tags and artifacts, not MLflow 3's logged models, traces, datasets, prompts, assessments, scorers or "
            "gateways; use a MLflow tracking server for those",
            error_code=FEATURE_DISABLED,
        )

    unsupported.__name__ = name
    unsupported.__doc__ = "Not supported by the runlog store: raises ``MlflowException`` (FEATURE_DISABLED)."
    return unsupported


class RunlogTrackingStore(AbstractStore):
    """MLflow's tracking store on a runlog store file (``runlog:PATH``)."""

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        super().__init__()
        self.path = store_path_of(store_uri or f"{SCHEME}:{DEFAULT_FILE}")
        self.uri = _store_uri(self.path)
        self._store = open_store(self.path)
        # Handles of the runs this process logs into (started here, or attached on first write), by run id. They stay
        # open while the store does: dropping the handle of a run started here would end it.
        self._runs: dict[str, _runlog.NativeRun] = {}
        # Metric names that passed MLflow's name checks.
        self._metric_names: set[str] = set()
        # Runs checked to be active since this process last deleted one (a write into a deleted run is refused).
        self._writable: set[str] = set()
        self._lock = threading.Lock()
        # Writes not yet known to be committed: a read flushes first, so that a read sees every write before it.
        self._dirty = False
        if not any(e["name"] == DEFAULT_EXPERIMENT_NAME for e in self._store.experiment_details()):
            self._store.create_experiment(DEFAULT_EXPERIMENT_NAME)

    # --- reading the store -----------------------------------------------------------------------------------------

    def _read(self) -> _runlog.Store:
        if self._dirty:
            self._dirty = False
            self._store.flush()
        return self._store

    def _catalog(self) -> list[tuple[dict[str, Any], Experiment]]:
        return [(d, self._experiment_of(d)) for d in self._read().experiment_details()]

    def _experiment_of(self, d: dict[str, Any]) -> Experiment:
        tags = d["tags"]
        exp_id = DEFAULT_EXPERIMENT_ID if d["name"] == DEFAULT_EXPERIMENT_NAME else str(d["id"])
        return Experiment(
            experiment_id=exp_id,
            name=tags.get(EXP_NAME, d["name"]),
            artifact_location=tags.get(EXP_ARTIFACT_LOCATION, self.uri),
            lifecycle_stage=tags.get(EXP_LIFECYCLE, LifecycleStage.ACTIVE),
            tags=[ExperimentTag(k, v) for k, v in tags.items() if not k.startswith(INTERNAL)],
            creation_time=d["created_at"],
            last_update_time=d["updated_at"],
        )

    def _find_experiment(self, experiment_id: Any) -> tuple[dict[str, Any], Experiment]:
        want = str(experiment_id)
        for d, e in self._catalog():
            if e.experiment_id == want:
                return d, e
        raise MlflowException(f"Could not find experiment with ID {want}", RESOURCE_DOES_NOT_EXIST)

    def _run_info_dict(self, run_id: str) -> dict[str, Any]:
        _validate_run_id(run_id)
        try:
            return self._read().run_info(run_id)
        except _runlog.NotFoundError:
            raise MlflowException(f"Run '{run_id}' not found", RESOURCE_DOES_NOT_EXIST) from None
        except Exception as e:
            raise _mlflow_error(e) from None

    def _experiment_ids_by_name(self) -> dict[str, tuple[str, str]]:
        """runlog experiment name -> (MLflow experiment id, lifecycle stage)."""
        return {d["name"]: (e.experiment_id, e.lifecycle_stage) for d, e in self._catalog()}

    def _run_of(self, info: dict[str, Any], experiments: dict[str, tuple[str, str]] | None = None) -> Run:
        experiments = experiments if experiments is not None else self._experiment_ids_by_name()
        exp_id, exp_stage = experiments.get(info["experiment"], ("", LifecycleStage.ACTIVE))
        tags = info["tags"]
        props = info["properties"]
        status = tags.get(RUN_STATUS) or _MLFLOW_STATUS.get(info["status"], "RUNNING")
        deleted = tags.get(RUN_LIFECYCLE) == LifecycleStage.DELETED or exp_stage == LifecycleStage.DELETED
        run_id = info["id"]
        run_info = RunInfo(
            run_id=run_id,
            experiment_id=props.get(PROP_EXPERIMENT_ID, exp_id),
            user_id=props.get(PROP_USER_ID, tags.get(MLFLOW_USER, "")),
            status=status,
            start_time=info["started_at"],
            end_time=None if status in ("RUNNING", "SCHEDULED") else info["ended_at"],
            lifecycle_stage=LifecycleStage.DELETED if deleted else LifecycleStage.ACTIVE,
            artifact_uri=self._artifact_uri(run_id),
            run_name=tags.get(MLFLOW_RUN_NAME, info["name"]),
        )
        latest = self._read().latest_points(run_id)
        data = RunData(
            metrics=[Metric(k, v, ts, step) for k, (v, ts, step) in sorted(latest.items())],
            params=[Param(k, _param_text(v)) for k, v in info["params"].items()],
            tags=[RunTag(k, v) for k, v in tags.items() if not k.startswith(INTERNAL)],
        )
        return Run(run_info, data, RunInputs(dataset_inputs=[]), RunOutputs(model_outputs=[]))

    def _artifact_uri(self, run_id: str) -> str:
        return f"{self.uri}/runs/{run_id}/artifacts"

    # --- writing ---------------------------------------------------------------------------------------------------

    def _handle(self, run_id: str, *, active: bool = True) -> _runlog.NativeRun:
        """The handle to write into a run (attached on first use); with `active`, the run must not be deleted."""
        if active and run_id not in self._writable:
            check_run_is_active(self.get_run(run_id).info)
            self._writable.add(run_id)
        run = self._runs.get(run_id)
        if run is None:
            with self._lock:
                run = self._runs.get(run_id)
                if run is None:
                    try:
                        run = _runlog.NativeRun(self._store, run_id=run_id)
                    except Exception as e:
                        raise _mlflow_error(e) from None
                    self._runs[run_id] = run
        return run

    # --- experiments -----------------------------------------------------------------------------------------------

    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY,
                           max_results: int = SEARCH_MAX_RESULTS_DEFAULT, filter_string: str | None = None,
                           order_by: list[str] | None = None, page_token: str | None = None) -> PagedList[Experiment]:
        """Experiments of the store, filtered, ordered and paged as MLflow does."""
        if not isinstance(max_results, int) or max_results < 1:
            raise MlflowException(
                f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer",
                INVALID_PARAMETER_VALUE)
        if max_results > SEARCH_MAX_RESULTS_THRESHOLD:
            raise MlflowException(
                f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at most "
                f"{SEARCH_MAX_RESULTS_THRESHOLD}", INVALID_PARAMETER_VALUE)
        experiments = [e for _, e in self._catalog() if _in_view(e.lifecycle_stage, view_type)]
        filtered = SearchExperimentsUtils.filter(experiments, filter_string)
        ordered = SearchExperimentsUtils.sort(filtered, order_by or ["creation_time DESC", "experiment_id ASC"])
        page, token = SearchUtils.paginate(ordered, page_token, max_results)
        return PagedList(page, token)

    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: list[ExperimentTag] | None = None) -> str:
        """Creates an experiment (a runlog experiment, tagged with what MLflow keeps); returns its id."""
        _validate_experiment_name(name)
        if artifact_location:
            _validate_experiment_artifact_location_length(artifact_location)
        for tag in tags or []:
            _validate_experiment_tag(tag.key, tag.value)
        catalog = self._catalog()
        for _, e in catalog:
            if e.name == name:
                if e.lifecycle_stage == LifecycleStage.DELETED:
                    raise MlflowException(
                        f"Experiment {name!r} already exists in deleted state. You can restore the experiment, or "
                        "use another name", RESOURCE_ALREADY_EXISTS)
                raise MlflowException(f"Experiment '{name}' already exists.", RESOURCE_ALREADY_EXISTS)
        # The runlog name is the first MLflow name; one freed by a rename stays with its experiment.
        taken = {d["name"] for d, _ in catalog}
        local, n = name, 1
        while local in taken:
            n += 1
            local = f"{name} ({n})"
        try:
            self._store.create_experiment(local)
            if local != name:
                self._store.set_experiment_tag(local, EXP_NAME, name)
            if artifact_location:
                self._store.set_experiment_tag(local, EXP_ARTIFACT_LOCATION, artifact_location)
            for tag in tags or []:
                self._store.set_experiment_tag(local, tag.key, tag.value)
        except Exception as e:
            raise _mlflow_error(e) from None
        for d, created in self._catalog():
            if d["name"] == local:
                return str(created.experiment_id)
        raise MlflowException(f"experiment {name!r} was created but is not found", INTERNAL_ERROR)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment of an id, deleted or not."""
        return self._find_experiment(experiment_id)[1]

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        """The experiment of a name (deleted ones too), or None."""
        for _, e in self._catalog():
            if e.name == experiment_name:
                return e
        return None

    def delete_experiment(self, experiment_id: str) -> None:
        """Marks an experiment and its runs deleted (an appended experiment tag; nothing is removed)."""
        if str(experiment_id) == DEFAULT_EXPERIMENT_ID:
            raise MlflowException(
                f"Cannot delete the default experiment '{DEFAULT_EXPERIMENT_ID}'. This is an internally reserved "
                "experiment.", INVALID_PARAMETER_VALUE)
        d, e = self._find_experiment(experiment_id)
        if e.lifecycle_stage != LifecycleStage.ACTIVE:
            raise MlflowException(f"Could not find experiment with ID {experiment_id}", RESOURCE_DOES_NOT_EXIST)
        self._set_experiment_tag(d["name"], EXP_LIFECYCLE, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        """Marks a deleted experiment (and the runs deleted with it) active again."""
        d, e = self._find_experiment(experiment_id)
        if e.lifecycle_stage != LifecycleStage.DELETED:
            raise MlflowException(
                f"Cannot restore an active experiment. Experiment with ID {experiment_id} is already active.",
                INVALID_STATE)
        self._set_experiment_tag(d["name"], EXP_LIFECYCLE, LifecycleStage.ACTIVE)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Gives an experiment a new MLflow name (an appended experiment tag; runlog keeps its first name)."""
        _validate_experiment_name(new_name)
        d, e = self._find_experiment(experiment_id)
        if e.lifecycle_stage != LifecycleStage.ACTIVE:
            raise MlflowException(
                f"Cannot rename experiment in non-active lifecycle stage. Current stage: {e.lifecycle_stage}",
                INVALID_STATE)
        if any(other.name == new_name for _, other in self._catalog()):
            raise MlflowException(f"Experiment '{new_name}' already exists.", RESOURCE_ALREADY_EXISTS)
        self._set_experiment_tag(d["name"], EXP_NAME, new_name)

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        """Sets a tag of an active experiment."""
        _validate_experiment_tag(tag.key, tag.value)
        d, e = self._find_experiment(experiment_id)
        if e.lifecycle_stage != LifecycleStage.ACTIVE:
            raise MlflowException(
                f"The experiment {experiment_id} must be in the 'active' state. Current state is "
                f"{e.lifecycle_stage}.", INVALID_PARAMETER_VALUE)
        self._set_experiment_tag(d["name"], tag.key, tag.value)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Removes a tag of an active experiment (an appended removal)."""
        d, e = self._find_experiment(experiment_id)
        if e.lifecycle_stage != LifecycleStage.ACTIVE:
            raise MlflowException(
                f"The experiment {experiment_id} must be in the 'active' state. Current state is "
                f"{e.lifecycle_stage}.", INVALID_PARAMETER_VALUE)
        if key not in e.tags:
            raise MlflowException(f"No tag with name: {key} in experiment with id {experiment_id}",
                                  RESOURCE_DOES_NOT_EXIST)
        self._set_experiment_tag(d["name"], key, None)

    def _set_experiment_tag(self, local_name: str, key: str, value: str | None) -> None:
        try:
            self._store.set_experiment_tag(local_name, key, value)
        except Exception as e:
            raise _mlflow_error(e) from None

    # --- runs ------------------------------------------------------------------------------------------------------

    def create_run(self, experiment_id: str | None, user_id: str | None, start_time: int | None,
                   tags: list[RunTag] | None, run_name: str | None) -> Run:
        """Starts a runlog run (same id as MLflow's) in the experiment's runlog experiment."""
        experiment_id = DEFAULT_EXPERIMENT_ID if experiment_id is None else str(experiment_id)
        try:
            d, experiment = self._find_experiment(experiment_id)
        except MlflowException:
            raise MlflowException(
                f"Could not create run under experiment with ID {experiment_id} - no such experiment exists.",
                RESOURCE_DOES_NOT_EXIST) from None
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise MlflowException(f"Could not create run under non-active experiment with ID {experiment_id}.",
                                  INVALID_STATE)
        tags = list(tags or [])
        name_tag = next((t.value for t in tags if t.key == MLFLOW_RUN_NAME), None)
        if run_name and name_tag and run_name != name_tag:
            raise MlflowException(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
                f"(run_name='{run_name}', mlflow.runName='{name_tag}').", INVALID_PARAMETER_VALUE)
        run_name = run_name or name_tag or _generate_random_name()
        if not name_tag:
            tags.append(RunTag(MLFLOW_RUN_NAME, run_name))
        _, _, tags = _validate_batch_log_data([], [], tags)
        parent = next((t.value for t in tags if t.key == MLFLOW_PARENT_RUN_ID), None)
        if parent is not None and not self._is_run(parent):
            parent = None  # MLflow keeps the tag whatever it names; runlog nests only under a run it holds
        start_time = int(start_time) if start_time is not None else get_current_time_millis()
        try:
            run = _runlog.NativeRun(self._store, experiment=d["name"], name=run_name, parent_id=parent,
                                    started_at_ms=start_time)
            run._add_property(PROP_EXPERIMENT_ID, experiment.experiment_id)
            if user_id:
                run._add_property(PROP_USER_ID, str(user_id))
            run._log_batch([], [], [(t.key, t.value) for t in tags])
        except Exception as e:
            raise _mlflow_error(e) from None
        with self._lock:
            self._runs[run.id] = run
        self._writable.add(run.id)
        self._dirty = True
        return self.get_run(run.id)

    def _is_run(self, run_id: str) -> bool:
        if not re.fullmatch(r"[0-9a-fA-F]{32}", run_id or ""):
            return False
        try:
            self._read().run_info(run_id)
            return True
        except Exception:
            return False

    def get_run(self, run_id: str) -> Run:
        """The run with its latest metrics, params and tags."""
        return self._run_of(self._run_info_dict(run_id))

    def update_run_info(self, run_id: str, run_status: Any, end_time: int | None, run_name: str | None) -> RunInfo:
        """Records a status (a final one ends the runlog run at ``end_time``) and a new run name."""
        run = self.get_run(run_id)
        check_run_is_active(run.info)
        status = RunStatus.to_string(run_status) if isinstance(run_status, int) else str(run_status)
        handle = self._handle(run_id)
        # MLflow's status as given is a tag too: runlog's own status cannot say RUNNING again after an end (a resumed
        # run) or SCHEDULED.
        tags = [(MLFLOW_RUN_NAME, run_name)] if run_name else []
        tags.append((RUN_STATUS, status))
        try:
            handle._log_batch([], [], tags)
            if status in _RUNLOG_END:
                at = int(end_time) if end_time is not None else get_current_time_millis()
                handle._end_at(_RUNLOG_END[status], at)
        except Exception as e:
            raise _mlflow_error(e) from None
        self._dirty = True
        return self.get_run(run_id).info

    def delete_run(self, run_id: str) -> None:
        """Marks a run deleted (appended tags: nothing is removed; ``restore_run`` undoes it)."""
        self.get_run(run_id)
        self._writable.discard(run_id)
        self._append_tags(run_id, [(RUN_LIFECYCLE, LifecycleStage.DELETED),
                                   (RUN_DELETED_TIME, str(get_current_time_millis()))])

    def restore_run(self, run_id: str) -> None:
        """Marks a deleted run active again."""
        self.get_run(run_id)
        self._append_tags(run_id, [(RUN_LIFECYCLE, LifecycleStage.ACTIVE)])

    def _append_tags(self, run_id: str, tags: list[tuple[str, str]]) -> None:
        try:
            self._handle(run_id, active=False)._log_batch([], [], tags)
        except MlflowException:
            raise
        except Exception as e:
            raise _mlflow_error(e) from None
        self._dirty = True

    def _search_runs(self, experiment_ids: list[str], filter_string: str | None, run_view_type: int,
                     max_results: int, order_by: list[str] | None, page_token: str | None
                     ) -> tuple[list[Run], str | None]:
        if max_results > SEARCH_MAX_RESULTS_THRESHOLD:
            raise MlflowException(
                "Invalid value for request parameter max_results. It must be at most "
                f"{SEARCH_MAX_RESULTS_THRESHOLD}, but got value {max_results}", INVALID_PARAMETER_VALUE)
        wanted = {str(i) for i in experiment_ids}
        experiments = self._experiment_ids_by_name()
        runs = []
        for info in self._read().runs():
            exp_id = info["properties"].get(PROP_EXPERIMENT_ID) or experiments.get(info["experiment"], ("",))[0]
            if exp_id not in wanted:
                continue
            run = self._run_of(info, experiments)
            if _in_view(run.info.lifecycle_stage, run_view_type):
                runs.append(run)
        filtered = SearchUtils.filter(runs, filter_string)
        ordered = SearchUtils.sort(filtered, order_by)
        page, token = SearchUtils.paginate(ordered, page_token, max_results)
        return list(page), token

    # --- logging ---------------------------------------------------------------------------------------------------

    def log_batch(self, run_id: str, metrics: list[Metric], params: list[Param], tags: list[RunTag]) -> None:
        """Logs a batch in one call into runlog, after MLflow's own checks; metric points keep their timestamps."""
        _validate_run_id(run_id)
        _validate_batch_log_limits(metrics, params, tags)
        names = self._metric_names
        # MLflow's checks of a metric are its name's (pure: a name valid once is valid) and its numbers' types. A
        # batch of known names and plain numbers passes them for sure; any other runs them, for MLflow's own error.
        if all(m.key in names and type(m.value) in _PLAIN_NUMBERS and type(m.timestamp) is int and m.timestamp >= 0
               and type(m.step) is int for m in metrics):
            rows = [(m.key, m.value, m.timestamp, m.step) for m in metrics]
        else:
            _validate_batch_log_data(metrics, [], [])
            names.update(m.key for m in metrics)
            rows = [(m.key, float(m.value), int(m.timestamp), int(m.step)) for m in metrics]
        if params or tags:
            _, params, tags = _validate_batch_log_data([], params, tags)
            _validate_param_keys_unique(params)
        handle = self._handle(run_id)
        if params:
            self._check_params(run_id, params)
        try:
            handle._log_batch(rows, [(p.key, p.value) for p in params], [(t.key, t.value) for t in tags])
        except Exception as e:
            raise _mlflow_error(e) from None
        self._dirty = True

    def _check_params(self, run_id: str, params: list[Param]) -> None:
        """MLflow's write-once rule before anything of the batch is written: the same value again is fine."""
        have = self._run_info_dict(run_id)["params"]
        for p in params:
            if p.key in have and _param_text(have[p.key]) != p.value:
                raise MlflowException(
                    f"Changing param values is not allowed. Param with key='{p.key}' was already logged with "
                    f"value='{_param_text(have[p.key])}' for run ID='{run_id}'. Attempted logging new value "
                    f"'{p.value}'.", INVALID_PARAMETER_VALUE)

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        """Sets a tag of an active run (``mlflow.runName`` renames it)."""
        _validate_run_id(run_id)
        _validate_tag_name(tag.key)
        self.log_batch(run_id, [], [], [tag])

    def delete_tag(self, run_id: str, key: str) -> None:
        """Not supported: runlog keeps every tag value (set another value instead)."""
        raise MlflowException(
            f"delete_tag is not supported by the runlog tracking store: runlog keeps every value of tag {key!r} "
            f"of run {run_id}; set another value instead", FEATURE_DISABLED)

    def get_metric_history(self, run_id: str, metric_key: str, max_results: int | None = None,
                           page_token: str | None = None) -> PagedList[Metric]:
        """Every point of a metric in step order (logged order among equal steps), timestamps as logged."""
        _validate_run_id(run_id)
        _validate_metric_name(metric_key)
        self._run_info_dict(run_id)
        try:
            steps, values, stamps = self._read().series(run_id, metric_key)
        except Exception as e:
            raise _mlflow_error(e) from None
        points = [Metric(metric_key, v, ts, s, run_id=run_id) for s, v, ts in zip(steps, values, stamps)]
        if max_results is None and page_token is None:
            return PagedList(points, None)
        page, token = SearchUtils.paginate(points, page_token, max_results or len(points) or 1)
        return PagedList(page, token)

    def log_inputs(self, run_id: str, datasets: list[Any] | None = None, models: list[Any] | None = None) -> None:
        """Nothing to log is fine; datasets and models are not kept by runlog and raise."""
        if datasets or models:
            raise _not_supported("log_inputs (datasets and model inputs)")(self)

    def search_logged_models(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        """No logged model is ever kept here, so every search finds none (MLflow's artifact code asks for them)."""
        return PagedList([], None)

    def log_outputs(self, run_id: str, models: list[Any]) -> None:
        """Logged models are not kept by runlog: raises unless there is nothing to log."""
        if models:
            raise _not_supported("log_outputs (logged models)")(self)


# Every other store method (MLflow 3's logged models, traces, datasets, prompts, assessments, scorers, gateway, MCP)
# raises MLflow's own error instead of the base class's NotImplementedError or a silent no-op.
_INHERITED_OK = {
    "__init__", "log_metric", "log_metric_async", "log_param", "log_param_async", "set_tag_async",
    "log_batch_async", "end_async_logging", "flush_async_logging", "shut_down_async_logging", "search_runs",
    "get_metric_history_bulk_interval", "get_metric_history_bulk_interval_from_steps", "_evenly_spaced_indices",
    "filter_active_experiment_ids", "supports_workspaces", "supports_trace_archival",
}
for _klass in AbstractStore.__mro__:
    if _klass is object:
        continue
    for _name, _value in list(vars(_klass).items()):
        if (callable(_value) and not _name.startswith("__") and _name not in _INHERITED_OK
                and _name not in vars(RunlogTrackingStore)):
            setattr(RunlogTrackingStore, _name, _not_supported(_name))
setattr(RunlogTrackingStore, "__abstractmethods__", frozenset())


def _in_view(stage: str, view_type: int) -> bool:
    if view_type == ViewType.ALL:
        return True
    if view_type == ViewType.DELETED_ONLY:
        return stage == LifecycleStage.DELETED
    return stage == LifecycleStage.ACTIVE


def _param_text(value: Any) -> str:
    """A param as MLflow's text: runlog keeps typed params, MLflow clients log strings."""
    return value if isinstance(value, str) else str(value)


class RunlogArtifactRepository(ArtifactRepository):
    """A run's artifacts as files of the runlog run (``runlog:///STORE/runs/RUN_ID/artifacts[/PATH]``)."""

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        parsed = urllib.parse.urlparse(artifact_uri)
        m = _ARTIFACT_URI.match(urllib.parse.unquote(parsed.path))
        if parsed.scheme != SCHEME or parsed.netloc or m is None:
            raise MlflowException(
                f"{artifact_uri!r} is not a runlog artifact URI (runlog:///STORE/runs/RUN_ID/artifacts[/PATH])",
                INVALID_PARAMETER_VALUE)
        self.store_path = m["store"]
        self.run_id = m["run"]
        self.prefix = (m["path"] or "").strip("/")
        self._store = open_store(self.store_path)
        self._run: _runlog.NativeRun | None = None

    def _name(self, path: str | None) -> str:
        parts = [p for p in (self.prefix, (path or "").strip("/")) if p]
        name = posixpath.normpath("/".join(parts)) if parts else ""
        if name.startswith("..") or name.startswith("/"):
            raise MlflowException(f"artifact path {path!r} leaves the run's artifacts", INVALID_PARAMETER_VALUE)
        return "" if name == "." else name

    def _handle(self) -> _runlog.NativeRun:
        if self._run is None:
            try:
                self._run = _runlog.NativeRun(self._store, run_id=self.run_id)
            except Exception as e:
                raise _mlflow_error(e) from None
        return self._run

    def _files(self) -> dict[str, tuple[str | bytes, int]]:
        """The run's artifacts by path, each a blob hash or the bytes themselves, with its size: the images, each
        chart's latest version (``charts/<name>.json``) and the files (the latest upload of each name wins), the tree
        the sync to MLflow uploads and ``runlog ui``'s MLflow endpoint lists."""
        self._store.flush()
        try:
            return {path: (content, size) for path, content, size in self._store.artifacts(self.run_id)}
        except Exception as e:
            raise _mlflow_error(e) from None

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        """Stores a file as ``artifact_path/<its name>`` of the run."""
        name = self._name(posixpath.join(artifact_path or "", os.path.basename(local_file)))
        try:
            self._handle()._upload_file(name, os.fspath(local_file))
        except Exception as e:
            raise _mlflow_error(e) from None

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        """Stores every file under a directory, keeping their relative paths."""
        local_dir = os.fspath(local_dir)
        for root, _, files in os.walk(local_dir):
            rel = os.path.relpath(root, local_dir)
            for f in sorted(files):
                sub = posixpath.join(artifact_path or "", "" if rel == "." else rel.replace(os.sep, "/"))
                self.log_artifact(os.path.join(root, f), sub)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The files and directories right under ``path``."""
        base = self._name(path)
        prefix = f"{base}/" if base else ""
        files = self._files()
        out: dict[str, FileInfo] = {}
        for name, (_, size) in files.items():
            if not name.startswith(prefix) or name == base:
                continue
            head, sep, _ = name[len(prefix):].partition("/")
            rel = self._relative(prefix + head)
            out.setdefault(rel, FileInfo(rel, bool(sep), None if sep else size))
        return sorted(out.values(), key=lambda f: f.path)

    def _relative(self, name: str) -> str:
        """A file name of the run as a path relative to this repository's URI."""
        return name[len(self.prefix) + 1:] if self.prefix else name

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        name = self._name(remote_file_path)
        found = self._files().get(name)
        if found is None:
            raise MlflowException(f"artifact {remote_file_path!r} of run {self.run_id} not found",
                                  RESOURCE_DOES_NOT_EXIST)
        content = found[0]
        with open(local_path, "wb") as f:
            f.write(content if isinstance(content, bytes) else self._store.blob(content))

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Not supported: the store is append-only."""
        raise MlflowException(
            "delete_artifacts is not supported by the runlog artifact repository: the store is append-only",
            FEATURE_DISABLED)
