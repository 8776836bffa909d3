"""The DARTS CNN space: its edges, ops and genotypes (8 ops, 14 edges, normal + reduce).

A cell has two input nodes (the two previous cells) and 4 intermediate nodes; node j (2..5)
sums one mixed op on each earlier node, so edges are enumerated node by node: (0,2), (1,2),
(0,3), (1,3), (2,3), (0,4), ... 14 in all. The output concatenates the 4 intermediate nodes.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

import torch

from suite.errors import InvalidInput

from .ops import DARTS_PRIMITIVES

STEPS = 4
EDGES: tuple[tuple[int, int], ...] = tuple((s, t) for t in range(2, STEPS + 2) for s in range(t))
OPS = DARTS_PRIMITIVES


@dataclass(frozen=True)
class Genotype:
    """A derived DARTS cell pair, in quark0/darts's Genotype layout: (op, input node) per chosen edge."""

    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]
    normal_nodes: tuple[int, ...] | None = None
    """How many of the (op, input) entries feed each intermediate node, in order; None means 2 each
    (quark0/darts's layout). Set for cells with any number of inputs per node (EnTranNAS-DST)."""
    reduce_nodes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for cell in ("normal", "reduce"):
            nodes = getattr(self, f"{cell}_nodes")
            if nodes is not None and (len(nodes) != STEPS or sum(nodes) != len(getattr(self, cell))):
                raise InvalidInput(f"{cell}_nodes {list(nodes)} must give {STEPS} node degrees summing to the "
                                   f"{len(getattr(self, cell))} {cell} entries")
            if nodes is None and len(getattr(self, cell)) != 2 * STEPS:
                raise InvalidInput(f"a genotype with {len(getattr(self, cell))} {cell} entries needs {cell}_nodes "
                                   f"(inputs per node); the default layout has 2 per node")

    def nodes(self, cell: str) -> list[list[tuple[str, int]]]:
        """The (op, input) entries of each intermediate node of the ``normal`` or ``reduce`` cell."""
        entries, degrees = getattr(self, cell), getattr(self, f"{cell}_nodes") or (2,) * STEPS
        out, k = [], 0
        for d in degrees:
            out.append(list(entries[k:k + d]))
            k += d
        return out

    def to_str(self) -> str:
        extra = "".join(f", {c}_nodes={list(getattr(self, f'{c}_nodes'))}" for c in ("normal", "reduce")
                        if getattr(self, f"{c}_nodes") is not None)
        return (f"Genotype(normal={list(self.normal)}, normal_concat={list(self.normal_concat)}, "
                f"reduce={list(self.reduce)}, reduce_concat={list(self.reduce_concat)}{extra})")

    __str__ = to_str

    @classmethod
    def parse(cls, text: str) -> "Genotype":
        """Parse the string ``to_str`` writes (also quark0/darts's ``Genotype(...)`` repr)."""
        body = text.strip()
        if not (body.startswith("Genotype(") and body.endswith(")")):
            raise InvalidInput(f"a DARTS genotype reads 'Genotype(normal=[...], normal_concat=[...], "
                               f"reduce=[...], reduce_concat=[...])', got {text[:60]!r}")
        fields = {}
        try:
            call = ast.parse(body, mode="eval").body
            for kw in call.keywords:  # type: ignore[attr-defined]
                fields[kw.arg] = ast.literal_eval(kw.value)
        except (SyntaxError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"malformed DARTS genotype {text[:60]!r}: {exc}") from None
        missing = {"normal", "normal_concat", "reduce", "reduce_concat"} - set(fields)
        if missing:
            raise InvalidInput(f"DARTS genotype lacks {sorted(missing)}")
        for cell in ("normal", "reduce"):
            for op, node in fields[cell]:
                if op not in OPS:
                    raise InvalidInput(f"unknown DARTS op {op!r}; allowed values: {list(OPS)}")
        unknown = set(fields) - {"normal", "normal_concat", "reduce", "reduce_concat", "normal_nodes", "reduce_nodes"}
        if unknown:
            raise InvalidInput(f"DARTS genotype has unknown field(s) {sorted(unknown)}")
        nodes = {c: tuple(int(d) for d in fields[c]) if c in fields else None for c in ("normal_nodes", "reduce_nodes")}
        return cls(tuple((op, int(n)) for op, n in fields["normal"]), tuple(fields["normal_concat"]),
                   tuple((op, int(n)) for op, n in fields["reduce"]), tuple(fields["reduce_concat"]), **nodes)


def derive_top2(weights: torch.Tensor, exclude: str = "none") -> tuple[tuple[str, int], ...]:
    """DARTS rule: per node keep the 2 in-edges with the largest non-``none`` weight, each with its best op."""
    w = weights.detach().cpu()
    gene: list[tuple[str, int]] = []
    skip = OPS.index(exclude)
    for t in range(2, STEPS + 2):
        edges = [e for e, (_, tt) in enumerate(EDGES) if tt == t]
        scored = []
        for e in edges:
            row = w[e].clone()
            row[skip] = -float("inf")
            scored.append((float(row.max()), e, int(row.argmax())))
        for _, e, k in sorted(scored, key=lambda x: -x[0])[:2]:
            gene.append((OPS[k], EDGES[e][0]))
    return tuple(gene)
