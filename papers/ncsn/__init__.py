"""Song & Ermon (2019), Noise Conditional Score Networks (NCSN): experiments (torch-free)."""

from repro.registry import Experiment

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
    Experiment("ncsn", "celeba", stages=("train", "sample", "evaluate"), gpu_stages=("train", "sample", "evaluate")),
]
