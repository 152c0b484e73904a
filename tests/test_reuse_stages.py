"""A setting first read by a later stage is not part of an earlier stage's identity (and only then)."""

from dataclasses import dataclass

import pytest

from repro import checkpoint
from repro.config import ExperimentConfig, read_from


@dataclass(frozen=True, kw_only=True)
class Sampling:
    steps: int
    n_ref: int = read_from("evaluate", 100)


@dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    width: int
    n_samples: int = read_from("sample")
    sampling: Sampling = read_from("sample")
    protocol_n: int = read_from("evaluate")


def _cfg(**changes) -> Config:
    base = {"width": 8, "n_samples": 10, "sampling": Sampling(steps=5), "protocol_n": 50}
    return Config(**{**base, **changes})


def test_training_identity_ignores_what_only_sampling_and_evaluation_read():
    train = checkpoint.run_settings(_cfg(), "train")
    assert train == {"seed": 0, "width": 8}
    assert checkpoint.run_settings(_cfg(n_samples=99, protocol_n=1), "train") == train
    assert checkpoint.run_settings(_cfg(width=9), "train") != train


def test_sampling_identity_ignores_only_what_evaluation_reads():
    sample = checkpoint.run_settings(_cfg(), "sample")
    assert sample["n_samples"] == 10 and sample["sampling"] == {"steps": 5} and "protocol_n" not in sample
    assert checkpoint.run_settings(_cfg(sampling=Sampling(steps=5, n_ref=7)), "sample") == sample
    assert checkpoint.run_settings(_cfg(sampling=Sampling(steps=6)), "sample") != sample


def test_read_from_names_a_later_stage():
    with pytest.raises(ValueError, match="stage must be one of"):
        read_from("train")
