"""The ``dnas`` command line. Readable output by default, ``--json`` for scripts.

Errors are one line on stderr (``dnas: error: ...``) with exit status 2.
"""
from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: with several processes on few cores a spinning
# thread steals the core its partner needs (measured: 7x slower with 2 threads on a busy 2-core
# machine). Set before torch loads; results do not depend on it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from typing import Sequence  # noqa: E402

from suite.errors import DnasError, NonFiniteLoss  # noqa: E402

from . import bench, doctor, listing, rankcorr, regress, report, runs, sweep  # noqa: E402
from .common import Parser  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="dnas", description="dnas-suite: differentiable NAS, evaluated on benchmarks")
    p.add_argument("--numerics", choices=("native", "portable"), default=None,
                   help="float kernels of searches and evaluations: native (fastest; exact replay on the same CPU "
                        "only) or portable (replays across CPUs, slower; README: Replay). Default: DNAS_NUMERICS, "
                        "else native")
    sub = p.add_subparsers(dest="command", required=True)
    for group in (bench, runs, sweep, rankcorr, regress, report, listing, doctor):  # the order of 'dnas --help'
        group.add_parsers(sub)
    return p


def _os_error(exc: OSError) -> str:
    """An operating-system error as one line naming the file (a full disk: where, and how to go on)."""
    from suite.io import out_of_space

    where = f" {exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "") if exc.filename else ""
    text = exc.strerror or str(exc).splitlines()[0]
    if out_of_space(exc):
        return (f"cannot write{where}: {text}; free space on that disk (or choose another place) and run the "
                f"command again")
    return f"cannot use{where}: {text}; check the path or choose another place"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.numerics == "portable":  # before torch loads: MKL and ATen read these once
        from suite.numerics import PORTABLE_ENV

        os.environ.update(PORTABLE_ENV)
    elif args.numerics == "native" and os.environ.get("DNAS_NUMERICS") == "portable":
        os.environ["DNAS_NUMERICS"] = "native"
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader went away (`dnas list methods | head -1`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at interpreter exit
        return 0
    except NonFiniteLoss as exc:
        print(f"dnas: error: {exc}", file=sys.stderr)
        return 3
    except (DnasError, OSError) as exc:  # the user's input or machine: one line naming the thing and the fix
        msg = _os_error(exc) if isinstance(exc, OSError) and not isinstance(exc, DnasError) else str(exc)
        print(f"dnas: error: {' '.join(msg.split()) if chr(10) in msg else msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"dnas: {exc or 'interrupted'}: run the same command again to resume a conversion, or --resume "
              f"RUN_DIR for a search or evaluation", file=sys.stderr)
        return 130
    except Exception:  # anything else is a bug of ours: keep its traceback
        traceback.print_exc()
        print("dnas: internal error: this is a bug in dnas-suite, not in your input; please report it with the "
              "traceback above", file=sys.stderr)
        return 1
