"""Sohl-Dickstein et al. (2015), Deep Unsupervised Learning using Nonequilibrium Thermodynamics (torch-free)."""

from repro.registry import Experiment

EXPERIMENTS = [
    Experiment("sohl", "heartbeat", stages=("train", "evaluate")),
    Experiment("sohl", "swissroll", stages=("train", "evaluate")),
    Experiment("sohl", "mnist", stages=("train", "sample", "evaluate"), gpu_stages=("train", "sample", "evaluate")),
    Experiment("sohl", "cifar10", stages=("train", "sample", "evaluate"), gpu_stages=("train", "sample", "evaluate")),
    Experiment(
        "sohl", "deadleaves", stages=("train", "sample", "evaluate"), gpu_stages=("train", "sample", "evaluate")
    ),
    Experiment("sohl", "bark", stages=("train", "sample", "evaluate"), gpu_stages=("train", "sample", "evaluate")),
]
