"""Jing, Corso, Berlinghieri, Jaakkola (2022), Subspace Diffusion Generative Models: experiments (torch-free)."""

from repro.registry import Experiment

EXPERIMENTS = [
    Experiment("subspace", "gauss", stages=("evaluate",)),
    Experiment("subspace", "mnist", stages=("train", "sample", "evaluate")),
    *[
        Experiment(
            "subspace",
            name,
            stages=("train", "sample", "evaluate"),
            gpu_stages=("train", "sample", "evaluate"),
            module_name="papers.subspace.cifar10",
        )
        for name in ("cifar10", "cifar10deep", "cifar10ddpmppdeep")  # full model: NCSN++, NCSN++ deep, DDPM++ deep
    ],
]
