"""Python's ``logging`` into a run: :class:`RunlogHandler` records level, logger name and message."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runlog._run import Run

# Python's level names as runlog's log lines name them (the Rust integrations use the same five).
_LEVELS = {"CRITICAL": "ERROR", "ERROR": "ERROR", "WARNING": "WARN", "INFO": "INFO", "DEBUG": "DEBUG"}


class RunlogHandler(logging.Handler):
    """A ``logging.Handler`` that records each record (level, logger name, formatted message) into a run, as log
    lines of the stream ``log``. ``Run.get_context()`` and ``Experiment.start_logging()`` install one on the root
    logger; add your own to other loggers with ``logger.addHandler(RunlogHandler(run))``.

    In a process forked from the one that made the run, records are dropped: the run belongs to the parent.
    """

    def __init__(self, run: Run | None = None, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.run = run
        self._pid = os.getpid()

    def emit(self, record: logging.LogRecord) -> None:
        run = self.run
        if run is None or run._ended or run._pid != os.getpid():
            return
        try:
            msg = self.format(record)
            run._log_line("log", _LEVELS.get(record.levelname, record.levelname), record.name, msg)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


_root_handler: RunlogHandler | None = None


def install(run: Run) -> RunlogHandler:
    """Points the root logger's runlog handler at ``run`` (adding the handler the first time)."""
    global _root_handler
    if _root_handler is None or _root_handler._pid != os.getpid():
        _root_handler = RunlogHandler(run)
        logging.getLogger().addHandler(_root_handler)
    else:
        _root_handler.run = run
    return _root_handler
