"""The ``runlog`` command installed by pip: the same command line as the Rust binary, run in-process."""

from __future__ import annotations

import signal
import sys


def main() -> None:
    """Runs ``runlog`` with this process's arguments and exits with its exit code."""
    from runlog._runlog import cli_main

    # Like the binary: Ctrl-C stops `runlog ui` at once (Python's handler would only set a flag Rust never reads);
    # `runlog exec` installs its own handlers to forward signals to its command.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.stdout.flush()
    sys.exit(cli_main(["runlog", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
