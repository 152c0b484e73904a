"""Noise-level classifiers q(k | x) over the DLG grid of K levels (class 0 = sigma_max).

The image networks follow the DMCMC notebooks (module names conv1..conv4, fc, so the official state dicts load
strictly); `MLPClassifier` is our vector-data analogue; `OracleLevelPosterior` is the exact posterior for a
Gaussian mixture, p(k | x) proportional to p_{sigma_k}(x) under a uniform prior over levels.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from repro.diffusion.toy.gmm import GaussianMixture


class SimpleCNN(nn.Module):
    """4 x [3x3 conv, ReLU, 2x2 average pool] then a linear layer (DMCMC's CIFAR-10 classifier for 32x32x3)."""

    def __init__(self, n_levels: int = 1000, channels: int = 3, image_size: int = 32) -> None:
        super().__init__()
        self.act = nn.ReLU()
        self.pool = nn.AvgPool2d(2, 2)
        widths = (channels, 32, 64, 128, 256)
        for i in range(4):
            setattr(self, f"conv{i + 1}", nn.Conv2d(widths[i], widths[i + 1], 3, 1, 1))
        side = image_size
        for _ in range(4):
            side //= 2
        if side < 1:
            raise ValueError(f"SimpleCNN needs image_size >= 16, got {image_size}")
        self.fc = nn.Linear(256 * side * side, n_levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = self.pool(self.act(conv(x)))
        return self.fc(x.flatten(1))


class SimpleCNN256(nn.Module):
    """DMCMC's CelebA-HQ-256 classifier: pools of kernel 2 / stride 4 three times, then 2x2 (256 -> 2)."""

    def __init__(self, n_levels: int = 1000, channels: int = 3) -> None:
        super().__init__()
        self.act = nn.ReLU()
        self.pool2 = nn.AvgPool2d(2, 2)
        self.pool4 = nn.AvgPool2d(2, 4)
        widths = (channels, 32, 64, 128, 256)
        for i in range(4):
            setattr(self, f"conv{i + 1}", nn.Conv2d(widths[i], widths[i + 1], 3, 1, 1))
        self.fc = nn.Linear(1024, n_levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool4(self.act(self.conv1(x)))
        x = self.pool4(self.act(self.conv2(x)))
        x = self.pool4(self.act(self.conv3(x)))
        x = self.pool2(self.act(self.conv4(x)))
        return self.fc(x.flatten(1))


class MLPClassifier(nn.Module):
    """MLP over [x, log mean(x^2)] for vector data (our choice: the log-energy feature exposes the noise scale)."""

    def __init__(self, dim: int, n_levels: int = 1000, hidden: int = 256, depth: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = dim + 1
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, n_levels))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        energy = torch.log(x.square().mean(-1, keepdim=True) + 1e-8)
        return self.net(torch.cat([x, energy], dim=-1))


class OracleLevelPosterior:
    """Exact log p(k | x) (up to a constant) for a Gaussian mixture: log p_{sigma_k}(x), uniform prior.

    `dtype` float32 halves the cost of the [M, B, K] evaluation; the argmax is unaffected in practice.
    """

    def __init__(self, mixture: GaussianMixture, levels: torch.Tensor, dtype: torch.dtype | None = None) -> None:
        if dtype is not None and dtype != mixture.dtype:
            mixture = GaussianMixture(mixture.weights, mixture.means, mixture.stds, dtype=dtype)
        self.mixture = mixture
        self.levels = levels

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.mixture.log_prob_levels(x, self.levels)


def level_loss(levels: torch.Tensor) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    """Cross-entropy on k ~ Uniform{0..K-1} for x + sigma_k z (the DMCMC training objective).

    The draws use the global torch RNG, as repro.train expects.
    """

    def loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        lv = levels.to(device=x.device, dtype=x.dtype)
        k = torch.randint(0, lv.shape[0], (x.shape[0],), device=x.device)
        noisy = x + lv[k].reshape(-1, *([1] * (x.ndim - 1))) * torch.randn_like(x)
        return F.cross_entropy(model(noisy), k)

    return loss
