"""Jing, Corso, Berlinghieri, Jaakkola (2022), Subspace Diffusion Generative Models: experiments (torch-free)."""

from repro.registry import Experiment

EXPERIMENTS = [
    Experiment("subspace", "gauss", stages=("evaluate",)),
    Experiment("subspace", "mnist", stages=("train", "sample", "evaluate")),
    Experiment(
        "subspace", "cifar10", stages=("train", "sample", "evaluate"), gpu_stages=("train", "sample", "evaluate")
    ),
]
