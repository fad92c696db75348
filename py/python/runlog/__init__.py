"""runlog: Azure ML's ``Run`` API from Python, kept offline in one local SQLite file, at native speed.

Azure ML's notebooks and training scripts run with only their imports changed::

    from runlog import Experiment, Run, Workspace

    ws = Workspace.from_config()                 # the local store: $RUNLOG_STORE or ./runlog.db
    exp = Experiment(workspace=ws, name="mnist")
    run = exp.start_logging()
    for step in range(1000):
        run.log("loss", 1.0 / (step + 1))
    run.log_row("eval", epoch=1, acc=0.91)
    run.complete()

In a script, ``Run.get_context()`` gives the run handed over by ``runlog exec``, or else a run of its own in
``./runlog.db`` that completes when the script ends (or fails with the traceback's last line). Everything is kept
locally and can be synced later (``runlog sync``); nothing is printed instead of stored.
"""

from __future__ import annotations

import os as _os

from runlog import _runlog
from runlog._runlog import ForkedProcessError, NotFoundError, RunlogError, StoreError
from runlog._experiment import Experiment, Workspace
from runlog._run import Run

__version__: str = _runlog.__version__

__all__ = [
    "Experiment",
    "ForkedProcessError",
    "NotFoundError",
    "Run",
    "RunlogError",
    "RunlogHandler",
    "StoreError",
    "Workspace",
    "__version__",
]

# A child made by fork() must not use the parent's store: its handles raise ForkedProcessError on first use.
_os.register_at_fork(after_in_child=_runlog._after_fork_in_child)


def __getattr__(name: str) -> object:
    # `logging` is imported only when it is used, which keeps `import runlog` fast.
    if name == "RunlogHandler":
        from runlog._logging import RunlogHandler

        return RunlogHandler
    raise AttributeError(f"module 'runlog' has no attribute {name!r}")
