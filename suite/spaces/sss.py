"""NATS-Bench size space (SSS): the channel counts of 5 layers, written ``C1:C2:C3:C4:C5``.

Every cell is the best TSS cell; only widths vary, each in {8, 16, ..., 64}. The official
index order is itertools.product order over the channel choices, so ``code`` is the index.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable, Iterator

from suite.checks import check_tokens
from suite.errors import InvalidInput, WrongType

CHANNELS: tuple[int, ...] = (8, 16, 24, 32, 40, 48, 56, 64)
NUM_LAYERS = 5
NUM_ARCHS = len(CHANNELS) ** NUM_LAYERS
_CODE = {c: i for i, c in enumerate(CHANNELS)}


@dataclass(frozen=True, order=True)
class SizeArch:
    """An immutable SSS architecture: 5 channel counts."""

    channels: tuple[int, ...]

    def __post_init__(self) -> None:
        check_tokens(self.channels, CHANNELS, NUM_LAYERS, "an SSS arch", "channel counts", "bad SSS channel count")

    @classmethod
    def parse(cls, text: str) -> "SizeArch":
        """Parse ``C1:C2:C3:C4:C5``; a bad token raises ValueError naming it and the allowed values."""
        if not isinstance(text, str):
            raise WrongType(f"expected an SSS string, got {type(text).__name__}")
        tokens = text.strip().split(":")
        if len(tokens) != NUM_LAYERS:
            raise InvalidInput(f"malformed SSS arch string {text!r}: expected {NUM_LAYERS} ':'-separated "
                               f"channel counts from {list(CHANNELS)}, e.g. '64:64:64:64:64'")
        values = []
        for tok in tokens:
            if not tok.isdigit() or int(tok) not in _CODE:
                raise InvalidInput(f"bad SSS channel token {tok!r} in {text!r}; allowed values: {list(CHANNELS)}")
            values.append(int(tok))
        return cls(tuple(values))

    @classmethod
    def from_code(cls, code: int) -> "SizeArch":
        if not 0 <= code < NUM_ARCHS:
            raise InvalidInput(f"SSS index must be in [0, {NUM_ARCHS}), got {code}")
        out = []
        for _ in range(NUM_LAYERS):
            code, r = divmod(code, len(CHANNELS))
            out.append(CHANNELS[r])
        return cls(tuple(reversed(out)))

    @property
    def code(self) -> int:
        """Position in itertools.product order, which is also the official index."""
        c = 0
        for ch in self.channels:
            c = c * len(CHANNELS) + _CODE[ch]
        return c

    def to_str(self) -> str:
        return ":".join(str(c) for c in self.channels)

    __str__ = to_str


def all_archs() -> Iterator[SizeArch]:
    for ch in itertools.product(CHANNELS, repeat=NUM_LAYERS):
        yield SizeArch(ch)


def as_size_arch(value: "SizeArch | str | Iterable[int]") -> SizeArch:
    if isinstance(value, SizeArch):
        return value
    if isinstance(value, str):
        return SizeArch.parse(value)
    return SizeArch(tuple(int(v) for v in value))
