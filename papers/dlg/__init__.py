"""Kim & Ye (2022/2023), Denoising MCMC / Denoising Langevin Gibbs (DLG): experiments (torch-free)."""

from repro.registry import Experiment

EXPERIMENTS = [
    Experiment("dlg", "gmm", stages=("train", "evaluate")),
    Experiment("dlg", "mnist", stages=("train", "sample", "evaluate")),
    Experiment("dlg", "cifar10", stages=("train", "sample", "evaluate"), gpu_stages=("train", "sample", "evaluate")),
    Experiment("dlg", "celebahq", stages=("train", "sample", "evaluate"), gpu_stages=("train", "sample", "evaluate")),
]
