"""Sohl-Dickstein et al. (2015), Deep Unsupervised Learning using Nonequilibrium Thermodynamics (torch-free).

CIFAR-10, dead leaves and bark share the stage functions and `Config` of papers/sohl/images.py (each of their
modules holds only its loader); MNIST adds Parzen rows in its own module.
"""

from repro.registry import Experiment

IMAGE_STAGES = ("train", "sample", "evaluate")  # every one sized for a GPU at the paper tier
IMAGES = "papers.sohl.images"

EXPERIMENTS = [
    Experiment("sohl", "heartbeat", stages=("train", "evaluate")),
    Experiment("sohl", "swissroll", stages=("train", "evaluate")),
    Experiment("sohl", "mnist", stages=IMAGE_STAGES, gpu_stages=IMAGE_STAGES),
    Experiment("sohl", "cifar10", stages=IMAGE_STAGES, gpu_stages=IMAGE_STAGES, module_name=IMAGES),
    Experiment("sohl", "deadleaves", stages=IMAGE_STAGES, gpu_stages=IMAGE_STAGES, module_name=IMAGES),
    Experiment("sohl", "bark", stages=IMAGE_STAGES, gpu_stages=IMAGE_STAGES, module_name=IMAGES),
]
