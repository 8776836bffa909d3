"""A local sweep worker: reads one task per line on stdin, answers one line each on stdout.

Started by ``LocalExecutor`` with its share of the machine in the environment
(``OMP_NUM_THREADS``, ``CUDA_VISIBLE_DEVICES``). It runs tasks one after another until stdin
closes; SIGINT stops the task in progress (the run records that it was interrupted).
"""
from __future__ import annotations

import json
import os
import sys


def main() -> int:
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
            channel.write(json.dumps(reply, default=str) + "\n")
            channel.flush()
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    code = main()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)  # every answer and run file is written: skip the interpreter's slow teardown (torch)
