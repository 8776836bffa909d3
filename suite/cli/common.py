"""What every command group shares: one-line usage errors, argument types, output formatting."""
from __future__ import annotations

import argparse
import json
import math
from typing import Any, NoReturn, Sequence

from suite.errors import DnasError


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"dnas: error: {message} (see '{self.prog} --help')\n")


def parse_pairs(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise DnasError(f"{flag} takes NAME=VALUE, got {item!r}")
        if name in out:
            raise DnasError(f"{flag} {name} is given twice ({out[name]!r} and {value!r}): give it once")
        out[name] = value
    return out


def count_at_least(low: int) -> Any:
    """An argparse type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def seed_arg(text: str) -> str | int:
    if text == "mean":
        return "mean"
    try:
        return int(text)
    except ValueError:
        raise DnasError(f"--seed takes 'mean' or one seed such as 777, got {text!r}") from None


def arch_arg(text: str) -> str | int:
    return int(text) if text.isdigit() else text


def json_clean(x: Any) -> Any:
    """JSON-safe: NaN and inf become None."""
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    if isinstance(x, dict):
        return {k: json_clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_clean(v) for v in x]
    return x


def print_json(obj: Any) -> None:
    print(json.dumps(json_clean(obj), indent=1))


def fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "n/a" if v is None else str(v)


def add_json(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--json", action="store_true", help="machine-readable output")


THREADS_HELP = ("intra-op CPU threads (default: OMP_NUM_THREADS, else the cores this process may use; recorded "
                "in the run, and kept on --resume since CPU results depend on it). Runs sharing cores: 1")

def finite_number(text: str) -> float:
    """An argparse type: a finite number (NaN and inf would make every comparison false)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def add_tensorboard(sp: argparse.ArgumentParser) -> None:
    """``--tensorboard DIR``: each run's epochs as a TensorBoard event stream under DIR/<run name>."""
    sp.add_argument("--tensorboard", metavar="DIR", help="write each run's epochs (losses, accuracies, looked-up "
                    "accuracy, α entropy, op shares, learning rate, images/s) as a TensorBoard event stream under "
                    "DIR/<run name> (needs: pip install 'dnas-suite[tensorboard]')")
