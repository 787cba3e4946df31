"""A job that trains data-parallel: `python -m app.training.group --processes N --server PID --
WORKER_ARGS`, started by the job runner (app/training/runner.py) in place of a lone worker. It is
torchrun's launcher (the elastic agent, run in this process): it starts N ranks of
`python -m app.training.worker WORKER_ARGS` on this host, watches them, and ends them all when
one ends badly. Its exit tells the runner how the group ended, as a lone worker's would:

- every rank done: 0 (rank 0 recorded the outcome);
- a rank killed by a signal (the OOM killer, an operator): this process kills itself with the
  same signal, so the job is `interrupted` and, with resume on, runs again from its last epoch;
- a rank stopped for a shutdown or because the server is gone: EXIT_STOPPED;
- otherwise a rank's own exit status (the job fails; every rank's traceback is in worker.log).

The runner's signals go to the whole process group (this launcher and its ranks share one
session): SIGUSR1 (cancel) reaches every rank, which agree to stop before the same batch, and is
ignored here; SIGTERM stops the ranks within a batch. A rank waiting for a peer that died gives
up at the collective time-out (model/distributed.py), so the group never hangs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from app.training.worker import EXIT_STOPPED, StopFlags, die_with_parent

MONITOR_INTERVAL_S = 0.2  # how often the launcher looks at its ranks
RENDEZVOUS_TIMEOUT_S = 60  # ranks that have not all joined by then fail the group


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.training.group")
    parser.add_argument("--processes", type=int, required=True, help="ranks on this host")
    parser.add_argument("--server", type=int, required=True, help="the server's pid")
    parser.add_argument("worker_args", nargs=argparse.REMAINDER, help="-- then the worker's")
    args = parser.parse_args(argv)
    die_with_parent()
    if StopFlags(args.server).orphaned():  # the server died before the line above took effect
        return EXIT_STOPPED
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # a cancel is for the ranks (they reset it)
    worker_args = [arg for arg in args.worker_args if arg != "--"]
    return run_group(args.processes, [*worker_args, "--parent", str(os.getpid())])


def run_group(processes: int, worker_args: list[str]) -> int:
    """torchrun's launcher, in this process, over `processes` workers; the group's exit."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    launcher = parse_args(  # type: ignore[no-untyped-call]
        ["--standalone", "--nproc-per-node", str(processes),
         "--monitor-interval", str(MONITOR_INTERVAL_S),
         "--rdzv-conf", f"join_timeout={RENDEZVOUS_TIMEOUT_S}",
         "-m", "app.training.worker", *worker_args]
    )  # fmt: skip
    try:
        run(launcher)  # type: ignore[no-untyped-call]
    except SignalException:  # the runner stopped the group (a shutdown)
        return EXIT_STOPPED
    except ChildFailedError as failed:
        return group_exit({rank: failure.exitcode for rank, failure in failed.failures.items()})
    return 0


def group_exit(codes: dict[int, int]) -> int:
    """The group's exit from its failed ranks' exit statuses (negative: killed by a signal);
    a kill is raised on this process itself, as a lone worker would have died."""
    killed = sorted(-code for code in codes.values() if code < 0)
    if killed:
        sig = signal.Signals(killed[0])
        if sig not in (signal.SIGKILL, signal.SIGSTOP):  # those two have no handler to reset
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    if EXIT_STOPPED in codes.values():
        return EXIT_STOPPED
    return codes[min(codes)]


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
