"""Run configs: what defines a search or an evaluation, checked on construction.

``RunConfig`` holds what every run has (data and split-file places, benchmark, seed, device, output
place and name, CPU threads) and checks it; ``SearchConfig`` and ``EvalConfig`` add what they
run. Field types and ranges are checked on construction (``TypeError`` / ``ValueError`` naming
the field); the subject fields come first and positionally, the rest by keyword.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from suite.checks import check_int, check_mapping, check_name, check_path, check_seed, check_str
from suite.errors import FormatError, InvalidInput
from suite.io import read_yaml


@dataclass(kw_only=True)
class RunConfig:
    """The fields and checks every run shares; ``threads`` is the number of intra-op CPU threads
    (default: see ``suite.device.choose_threads``)."""

    data_dir: str | None = None
    splits_dir: str | None = None
    bench: str | None = None
    seed: int = 0
    device: str = "auto"
    out: str = "runs"
    name: str | None = None
    threads: int | None = None

    STRINGS: ClassVar[tuple[str, ...]] = ()
    """Fields that must be strings (besides ``device``)."""
    SETTINGS: ClassVar[tuple[str, str]] = ("", "")
    """The one mapping of settings (``hparams`` or ``overrides``) and an example of it."""

    def __post_init__(self) -> None:
        for key in (*self.STRINGS, "device"):
            check_str(key, getattr(self, key))
        for key in ("data_dir", "splits_dir", "bench"):
            setattr(self, key, check_path(key, getattr(self, key)))
        self.out = check_path("out", self.out, optional=False)
        self.seed = check_seed(self.seed)
        check_name(self.name)
        if self.threads is not None:
            self.threads = check_int("threads", self.threads, low=1)
        mapping, example = self.SETTINGS
        value = getattr(self, mapping)
        setattr(self, mapping, check_mapping(mapping, {} if value is None else value, example))

    def record(self) -> dict[str, Any]:
        """The config as a run directory's config.yaml holds it: the subject fields first."""
        data = dataclasses.asdict(self)
        lead = [f.name for f in dataclasses.fields(self) if not f.kw_only]
        return {**{k: data[k] for k in lead}, **{k: v for k, v in data.items() if k not in lead}}

    @classmethod
    def known_fields(cls) -> set[str]:
        """The keys a config may hold."""
        return {f.name for f in dataclasses.fields(cls)}


@dataclass
class SearchConfig(RunConfig):
    """Everything that defines a search run; ``hparams`` go to the method (validated there)."""

    method: str
    space: str = "nb201"
    dataset: str = "cifar10"
    hparams: dict[str, Any] = field(default_factory=dict, kw_only=True)
    channels_last: bool | None = field(default=None, kw_only=True)
    """Channels-last network and inputs; None: the device's default (``methods.base.fast_path``)."""
    amp: bool | None = field(default=None, kw_only=True)
    """bf16 autocast; None: the device's default (on for CUDA, off for CPU)."""

    STRINGS: ClassVar[tuple[str, ...]] = ("method", "space", "dataset")
    SETTINGS: ClassVar[tuple[str, str]] = ("hparams", "hparams: {lr: 0.025}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchConfig":
        known = cls.known_fields()
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(f"unknown config key {unknown[0]!r}; known: {', '.join(sorted(known))} "
                               f"(method hyperparameters go under 'hparams:')")
        if "method" not in data:
            raise InvalidInput("the config needs 'method' (see 'dnas list methods')")
        return cls(**data)


@dataclass
class EvalConfig(RunConfig):
    """Everything that defines an evaluation run: an architecture trained under a protocol."""

    arch: str
    protocol: str
    dataset: str
    overrides: dict[str, Any] = field(default_factory=dict, kw_only=True)
    from_run: str | None = field(default=None, kw_only=True)
    """The search run the architecture came from (``--from-run``), so reports can link the two."""

    STRINGS: ClassVar[tuple[str, ...]] = ("arch", "protocol", "dataset")
    SETTINGS: ClassVar[tuple[str, str]] = ("overrides", "{epochs: 1, lr: 0.05}")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.from_run = check_path("from_run", self.from_run)


def read_yaml_config(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML config file as a dict; a missing file or bad YAML is a one-line error with the line number."""
    file = Path(path)
    data = read_yaml(file, "config")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FormatError(f"{file} must hold a mapping of config keys, not a {type(data).__name__}")
    return data
