"""Song & Ermon (2019), Noise Conditional Score Networks (NCSN): experiments (torch-free)."""

from repro.registry import Experiment

FIG1 = "papers.ncsn.fig1"  # both Fig. 1 experiments (CIFAR-10, and the digits analogue) share its stages

EXPERIMENTS = [
    Experiment("ncsn", "gmm", stages=("sample", "evaluate")),
    Experiment("ncsn", "scoretoy", stages=("train", "evaluate")),
    Experiment("ncsn", "mnist", stages=("train", "sample", "evaluate"), gpu_stages=("train", "sample")),
    Experiment(
        "ncsn",
        "cifar10",
        stages=("train", "select", "sample", "evaluate"),
        gpu_stages=("train", "select", "sample", "evaluate"),
    ),
    Experiment("ncsn", "fig1mnist", stages=("train", "evaluate"), gpu_stages=("train",), module_name=FIG1),
    Experiment("ncsn", "fig1cifar10", stages=("train", "evaluate"), gpu_stages=("train",), module_name=FIG1),
    Experiment("ncsn", "celeba", stages=("train", "sample", "evaluate"), gpu_stages=("train", "sample", "evaluate")),
]
