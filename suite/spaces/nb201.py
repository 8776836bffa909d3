"""NATS-Bench topology space (TSS), identical to NAS-Bench-201.

A cell has 4 nodes; node j sums one operation on each earlier node, so there are 6 edges.
The official string lists them node by node:
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, i.e. edges (0->1), (0->2), (1->2), (0->3), (1->3),
(2->3). ``Arch.ops`` keeps that order.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator, Sequence

from suite.checks import check_tokens
from suite.errors import InvalidInput, WrongType

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Operation table of the space, in NATS-Bench's order (``search_space_info``)."""

NUM_NODES = 4
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""(source, target) of each edge, in the order of the official string."""

NUM_ARCHS = len(OPS) ** len(EDGES)
_OP_CODE = {op: i for i, op in enumerate(OPS)}


def _bad(token: str, reason: str) -> ValueError:
    return InvalidInput(f"malformed NB201 arch string: {reason} {token!r}; "
                        f"expected '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' with op in {list(OPS)}")


@dataclass(frozen=True, order=True)
class Arch:
    """An immutable TSS/NB201 cell: one operation name per edge, in ``EDGES`` order."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        check_tokens(self.ops, OPS, len(EDGES), "an NB201 arch", "edge ops", "unknown NB201 op")

    # ---- encodings -------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> "Arch":
        """Parse the official string; a bad token raises ValueError naming it and the allowed values."""
        if not isinstance(text, str):
            raise WrongType(f"expected an arch string, got {type(text).__name__}")
        nodes = text.strip().split("+")
        if len(nodes) != NUM_NODES - 1:
            raise _bad(text, f"expected {NUM_NODES - 1} '+'-separated nodes, got {len(nodes)} in")
        ops: list[str] = []
        for target, node in enumerate(nodes, start=1):
            if not (node.startswith("|") and node.endswith("|")) or len(node) < 2:
                raise _bad(node, f"node {target} must be wrapped in '|', got")
            tokens = node[1:-1].split("|")
            if len(tokens) != target:
                raise _bad(node, f"node {target} needs {target} inputs, got {len(tokens)} in")
            for source, token in enumerate(tokens):
                op, sep, src = token.partition("~")
                if not sep:
                    raise _bad(token, "edge token lacks '~':")
                if op not in _OP_CODE:
                    raise InvalidInput(f"unknown NB201 op {op!r} in token {token!r}; allowed values: {list(OPS)}")
                if src != str(source):
                    raise _bad(token, f"input {source} of node {target} must read '~{source}', got")
                ops.append(op)
        # string order is node by node, which is exactly EDGES order
        return cls(tuple(ops))

    @classmethod
    def from_ops(cls, ops: Sequence[str | int]) -> "Arch":
        """Build from 6 op names or op indices (``OPS`` order), edges in ``EDGES`` order."""
        return cls(tuple(OPS[o] if isinstance(o, int) else o for o in ops))

    @classmethod
    def from_code(cls, code: int) -> "Arch":
        """Inverse of ``code``: the position in ``itertools.product(OPS, repeat=6)``."""
        if not 0 <= code < NUM_ARCHS:
            raise InvalidInput(f"NB201 code must be in [0, {NUM_ARCHS}), got {code}")
        ops = []
        for _ in EDGES:
            code, r = divmod(code, len(OPS))
            ops.append(OPS[r])
        return cls(tuple(reversed(ops)))

    def to_str(self) -> str:
        """The official string."""
        parts, k = [], 0
        for target in range(1, NUM_NODES):
            parts.append("|" + "|".join(f"{self.ops[k + s]}~{s}" for s in range(target)) + "|")
            k += target
        return "+".join(parts)

    __str__ = to_str

    @property
    def op_indices(self) -> tuple[int, ...]:
        """Op indices in ``OPS`` order, edges in ``EDGES`` order."""
        return tuple(_OP_CODE[o] for o in self.ops)

    @property
    def code(self) -> int:
        """Position in ``itertools.product(OPS, repeat=6)`` (NOT the official index)."""
        c = 0
        for i in self.op_indices:
            c = c * len(OPS) + i
        return c

    def incoming(self, target: int) -> list[tuple[int, str]]:
        """(source, op) pairs feeding node ``target``."""
        return [(s, op) for (s, t), op in zip(EDGES, self.ops) if t == target]

    # ---- structure -------------------------------------------------------------------
    def is_degenerate(self) -> bool:
        """True when no path of non-``none`` edges joins input to output (the cell outputs zeros)."""
        alive = {0: True}
        for t in range(1, NUM_NODES):
            alive[t] = any(op != "none" and alive[s] for s, op in self.incoming(t))
        return not alive[NUM_NODES - 1]

    def unique_str(self) -> str:
        """Isomorphism key, equal to NATS-Bench's ``to_unique_str(consider_zero=True)``.

        Two cells with the same key compute the same function up to weight sharing:
        ``none`` edges and dead inputs vanish, ``skip_connect`` forwards its input, and the
        inputs of a node are an unordered sum.
        """
        expr = {0: "0"}
        for t in range(1, NUM_NODES):
            terms = []
            for s, op in self.incoming(t):
                if op == "none" or expr[s] == "#":
                    terms.append("#")
                elif op == "skip_connect":
                    terms.append(expr[s])
                else:
                    terms.append(f"({expr[s]})@{op}")
            expr[t] = "+".join(sorted(terms))
        return expr[NUM_NODES - 1]

    def canonical(self) -> "Arch":
        """The representative of this cell's isomorphism class: its member with the smallest ``code``."""
        return _canonical_table()[self.unique_str()]


def all_archs() -> Iterator[Arch]:
    """Every cell of the space in ``code`` (itertools.product) order."""
    for ops in itertools.product(OPS, repeat=len(EDGES)):
        yield Arch(ops)


@lru_cache(maxsize=1)
def _canonical_table() -> dict[str, Arch]:
    table: dict[str, Arch] = {}
    for arch in all_archs():  # code order, so the first member seen is the smallest
        table.setdefault(arch.unique_str(), arch)
    return table


def as_arch(value: "Arch | str | Iterable[str | int]") -> Arch:
    """Coerce an Arch, an official string or an op sequence to an Arch."""
    if isinstance(value, Arch):
        return value
    if isinstance(value, str):
        return Arch.parse(value)
    return Arch.from_ops(list(value))
