"""A small LeNet-style digit classifier and sample-quality metrics in its feature space.

For data with no Inception protocol (the packaged MNIST digits, scikit-learn's 8x8 digits) the classifier is
trained on the dataset's own training split; `fid_lenet` is the Fréchet distance of its penultimate features
and `is_lenet` the Inception-score formula applied to its softmax. These are analogues: their names say
so, and they are never compared with an Inception claim.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from repro import atomic
from repro.metrics.distances import frechet_distance_stats, gaussian_fit
from repro.metrics.manifold import precision_recall


class LeNet(nn.Module):
    """conv5-relu-pool, conv5-relu-pool, fc (features), fc (logits); 'same' padding, so any H, W divisible by 4."""

    def __init__(
        self, channels: int = 1, image_size: int = 28, n_classes: int = 10, width: int = 16, features: int = 128
    ) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, got {image_size}")
        self.config = dict(
            channels=channels, image_size=image_size, n_classes=n_classes, width=width, features=features
        )
        self.conv1 = nn.Conv2d(channels, width, 5, padding=2)
        self.conv2 = nn.Conv2d(width, 2 * width, 5, padding=2)
        self.fc1 = nn.Linear(2 * width * (image_size // 4) ** 2, features)
        self.fc2 = nn.Linear(features, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc1(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x))


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run a tiny network on one thread: intra-op threads only add overhead at this size (20x on a busy CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def as_images(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """float32 (N,C,H,W) in [0,1] from either that or our uint8 sample format (N,H,W,C)."""
    if isinstance(x, np.ndarray) and x.dtype == np.uint8 or isinstance(x, torch.Tensor) and x.dtype == torch.uint8:
        t = torch.as_tensor(x)
        if t.ndim != 4:
            raise ValueError(f"uint8 samples must be (N,H,W,C), got shape {tuple(t.shape)}")
        return t.permute(0, 3, 1, 2).float().div(255.0)
    t = torch.as_tensor(x, dtype=torch.float32)
    if t.ndim != 4:
        raise ValueError(f"float images must be (N,C,H,W), got shape {tuple(t.shape)}")
    return t


def train_digit_classifier(
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    steps: int = 600,
    seed: int = 0,
    batch_size: int = 64,
    lr: float = 1e-3,
) -> LeNet:
    """Adam on cross-entropy for `steps` minibatches (epoch-wise shuffles from `seed`); returned in eval mode."""
    x, y = as_images(images), torch.as_tensor(labels, dtype=torch.int64)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    gen = torch.Generator().manual_seed(seed)
    torch_state = torch.get_rng_state()
    torch.manual_seed(seed)
    model = LeNet(channels=x.shape[1], image_size=x.shape[-1], n_classes=int(y.max()) + 1)
    torch.set_rng_state(torch_state)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    with _one_thread():
        _fit(model, opt, x, y, steps, batch_size, gen)
    return model.eval()


def _fit(
    model: LeNet,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    batch_size: int,
    gen: torch.Generator,
) -> None:
    order = torch.empty(0, dtype=torch.int64)
    for _ in range(steps):
        if len(order) < batch_size:
            order = torch.cat([order, torch.randperm(len(x), generator=gen)])
        idx, order = order[:batch_size], order[batch_size:]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def save_classifier(model: LeNet, path: str | Path) -> None:
    with atomic.atomic_path(path) as tmp:
        torch.save({"config": model.config, "state_dict": model.state_dict()}, tmp)


def load_classifier(path: str | Path) -> LeNet:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = LeNet(**blob["config"])
    model.load_state_dict(blob["state_dict"])
    return model.eval()


@torch.no_grad()
def _apply(model: LeNet, x: np.ndarray | torch.Tensor, fn: str, batch_size: int = 500) -> np.ndarray:
    imgs = as_images(x)
    expect = (model.config["channels"], model.config["image_size"], model.config["image_size"])
    if tuple(imgs.shape[1:]) != expect:
        raise ValueError(f"classifier expects images of shape {expect}, got {tuple(imgs.shape[1:])}")
    f = getattr(model, fn)
    return torch.cat([f(imgs[s : s + batch_size]) for s in range(0, len(imgs), batch_size)]).double().numpy()


def classifier_features(model: LeNet, x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Penultimate (post-ReLU) features, (N, 128) float64."""
    return _apply(model, x, "features")


def classifier_probs(model: LeNet, x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Softmax class probabilities, (N, n_classes) float64."""
    logits = _apply(model, x, "forward")
    return np.exp(logits - np.logaddexp.reduce(logits, axis=1, keepdims=True))


def accuracy(model: LeNet, x: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> float:
    return float((classifier_probs(model, x).argmax(1) == np.asarray(labels)).mean())


def fid_lenet(model: LeNet, samples: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussian fits of the classifier's penultimate features of two image sets."""
    return fid_lenet_against(model, reference)(samples)


def fid_lenet_against(
    model: LeNet, reference: np.ndarray | torch.Tensor
) -> Callable[[np.ndarray | torch.Tensor], float]:
    """`fid_lenet(model, ·, reference)` with the reference's fit computed once, for scoring many sample sets."""
    mu, cov = gaussian_fit(classifier_features(model, reference))

    def fid(samples: np.ndarray | torch.Tensor) -> float:
        return frechet_distance_stats(*gaussian_fit(classifier_features(model, samples)), mu, cov)

    return fid


def inception_score_from_probs(probs: np.ndarray, splits: int = 1) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) per split (consecutive chunks); mean and std over splits."""
    p = np.asarray(probs, dtype=np.float64)
    scores = []
    for chunk in np.array_split(p, splits):
        marginal = chunk.mean(0, keepdims=True)
        kl = (chunk * (np.log(np.clip(chunk, 1e-30, None)) - np.log(np.clip(marginal, 1e-30, None)))).sum(1)
        scores.append(math.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def is_lenet(model: LeNet, samples: np.ndarray | torch.Tensor, splits: int = 1) -> tuple[float, float]:
    """The Inception-score formula on the digit classifier's softmax: mean and std over `splits`."""
    return inception_score_from_probs(classifier_probs(model, samples), splits)


def precision_recall_lenet(
    model: LeNet, samples: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor, k: int = 3
) -> tuple[float, float]:
    """k-NN precision and recall (Kynkäänniemi et al.) in the classifier's feature space."""
    return precision_recall(classifier_features(model, reference), classifier_features(model, samples), k)
