"""A local sweep worker: reads one task per line on stdin, answers one line each on stdout.

Started by ``LocalExecutor`` with its share of the machine in the environment
(``OMP_NUM_THREADS``, ``CUDA_VISIBLE_DEVICES``). It runs tasks one after another until stdin
closes; SIGINT stops the task in progress (the run records that it was interrupted), even when the
sweep was started with SIGINT ignored (``dnas sweep ... &`` in a script). A worker whose sweep is
gone (killed, so it could not stop its workers) interrupts its task and exits by itself.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading

PARENT_POLL_S = 1.0
"""How often a worker looks whether the sweep that started it still runs."""


def watch_parent(parent: int, poll_s: float = PARENT_POLL_S) -> threading.Thread:
    """Interrupt this worker (SIGINT: its run records where it stopped) once ``parent`` is gone, so a
    sweep killed with SIGKILL leaves no worker computing for nobody; stdin then ends and it exits."""

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(poll_s)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=watch, name="watch sweep", daemon=True)
    thread.start()
    return thread


def main() -> int:
    # a background job inherits SIGINT ignored, and so would every run: the sweep stops runs with SIGINT
    signal.signal(signal.SIGINT, signal.default_int_handler)
    watch_parent(os.getppid())
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w")  # answers go here; fd 1 is free for run output
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    from suite.sweep.executors import call

    try:
        for line in sys.stdin:
            message = json.loads(line)
            try:
                reply = {"key": message["key"], "result": call(message["fn"], message["task"])}
            except Exception as exc:  # a bug outside the run: report it, keep serving
                reply = {"key": message["key"], "error": f"{type(exc).__name__}: {exc}"}
            try:
                channel.write(json.dumps(reply, default=str) + "\n")
                channel.flush()
            except OSError:  # the sweep is gone: nobody to answer or to serve
                return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    code = main()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)  # every answer and run file is written: skip the interpreter's slow teardown (torch)
