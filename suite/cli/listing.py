"""dnas list methods: what is registered."""
from __future__ import annotations

import argparse
from typing import Any

from .common import print_json, add_json


def cmd_list_methods(args: argparse.Namespace) -> int:
    from methods import list_methods

    names = list_methods()
    if args.json:
        print_json(names)
    else:
        print("\n".join(names) if names else "no methods registered yet")
    return 0


def add_parsers(sub: Any) -> None:
    lst = sub.add_parser("list", help="list registered things")
    lsub = lst.add_subparsers(dest="list_command", required=True)
    sp = lsub.add_parser("methods", help="registered search methods")
    add_json(sp)
    sp.set_defaults(func=cmd_list_methods)
