"""Reverse-model networks: a time-free body and a time readout (per-step weights or Gaussian bumps in t).

The paper lets time enter only through the readout: the body never sees t, and the readout weights are
either separate per time step (toy experiments) or mixed from J normalised Gaussian bumps (images).
Readouts start at zero, so an untrained reverse model is exactly the (perturbation-free) baseline kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "softplus": nn.Softplus, "relu": nn.ReLU}


def bump_matrix(T: int, J: int, axis: str = "linear") -> torch.Tensor:
    """[T, J] normalised Gaussian bumps g_j(t), centres evenly spaced on a time axis rescaled to [-1, 1].

    axis 'linear': t itself (the reference code); 'logit': log(t / (T - t + 1)), dense near both ends, where the
    binomial schedule beta_t = 1/(T-t+1) and the reverse kernels change fastest. Width: half the spacing.
    """
    if J < 2:
        raise ValueError(f"need at least 2 bumps, got J={J}")
    t = torch.arange(1, T + 1, dtype=torch.float64)
    if axis == "logit":
        t = torch.log(t / (T - t + 1))
    elif axis != "linear":
        raise ValueError(f"bump axis must be 'linear' or 'logit', got {axis!r}")
    s = (2 * (t - t.min()) / (t.max() - t.min()) - 1)[:, None]
    centres = torch.linspace(-1.0, 1.0, J, dtype=torch.float64)[None, :]
    width = 0.5 * (2.0 / (J - 1))
    return torch.softmax(-((s - centres) ** 2) / (2 * width**2), dim=1).float()


class TimeReadout(nn.Module):
    """Linear map from features to outputs whose weights depend on t (1-based step index, one per sample).

    kind 'per_step': separate weights per step (the paper's toy models); 'bumps': weights mixed from J normalised
    Gaussian bumps in t (the paper's image models), so every step learns from every minibatch.
    """

    def __init__(
        self, n_in: int, n_out: int, T: int, kind: str = "bumps", n_bumps: int = 10, axis: str = "linear"
    ) -> None:
        super().__init__()
        if kind not in ("bumps", "per_step"):
            raise ValueError(f"readout kind must be 'bumps' or 'per_step', got {kind!r}")
        self.kind, self.T = kind, T
        J = T if kind == "per_step" else n_bumps
        self.weight = nn.Parameter(torch.zeros(J, n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(J, n_out))
        if kind == "bumps":
            self.register_buffer("g", bump_matrix(T, n_bumps, axis), persistent=False)

    def forward(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """h: [B, M, n_in] (M positions sharing one t per sample) -> [B, M, n_out]."""
        if self.kind == "per_step":
            return torch.bmm(h, self.weight[t - 1]) + self.bias[t - 1][:, None, :]
        g = self.g[t - 1]  # [B, J]
        J, n_in, n_out = self.weight.shape
        z = (h @ self.weight.permute(1, 0, 2).reshape(n_in, J * n_out)).unflatten(-1, (J, n_out))  # every bump's map
        return torch.einsum("bmjo,bj->bmo", z, g) + (g @ self.bias)[:, None, :]


class MLP(nn.Module):
    def __init__(self, n_in: int, widths: Sequence[int], act: str) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for w in widths:
            layers += [nn.Linear(n_in, w), ACTIVATIONS[act]()]
            n_in = w
        self.net = nn.Sequential(*layers)
        self.n_out = n_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class NormalisedRBF(nn.Module):
    """One hidden layer of normalised radial basis functions (softmax over -|x-c|^2 / 2w^2)."""

    def __init__(self, centres: torch.Tensor, width: float) -> None:
        super().__init__()
        self.centres = nn.Parameter(centres.clone().float())
        self.log_width = nn.Parameter(torch.full((centres.shape[0],), float(torch.log(torch.tensor(width)))))
        self.n_out = centres.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sq = ((x[:, None, :] - self.centres[None]) ** 2).sum(-1)
        return torch.softmax(-sq / (2 * torch.exp(2 * self.log_width)), dim=1)


class VectorReverseNet(nn.Module):
    """(z_mu, z_sigma) or Bernoulli logits for d-dim vectors: shared body, time readout of 2d (or d) values."""

    def __init__(
        self, body: nn.Module, d: int, T: int, n_heads: int, readout: str, n_bumps: int = 10, axis: str = "linear"
    ) -> None:
        super().__init__()
        self.body, self.d, self.n_heads = body, d, n_heads
        self.readout = TimeReadout(body.n_out, n_heads * d, T, readout, n_bumps, axis)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        z = self.readout(self.body(x)[:, None, :], t)[:, 0]
        return tuple(z.split(self.d, dim=1))


class MultiScaleConv(nn.Module):
    """Sum over scales of (mean-pool by 2^s -> 3x3 conv -> upsample), then softplus (paper App. D.2)."""

    def __init__(self, c_in: int, c_out: int, n_scales: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c_out, 3, padding=1) for _ in range(n_scales))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = 0
        for s, conv in enumerate(self.convs):
            k = 2**s
            y = conv(F.avg_pool2d(x, k) if k > 1 else x)
            out = out + (F.interpolate(y, scale_factor=k, mode="nearest") if k > 1 else y)
        return F.softplus(out)


class ImageReverseNet(nn.Module):
    """Image reverse model: multi-scale conv layers and/or a dense pathway, per-pixel tanh layers, bump readout.

    `dense_hidden > 0` adds a fully connected pathway over the whole image (CIFAR-10 and MNIST in the paper) whose
    output gives `dense_out` features per pixel, concatenated with the conv features. `dense_layers` counts its
    linear layers (the reference code's `n_layers_dense_lower`): `dense_layers - 1` tanh layers of `dense_hidden`
    units, then a linear map to the per-pixel features. `pixel_layers` tanh layers of `pixel_hidden` units and the
    readout are the reference's `n_layers_dense_upper = pixel_layers + 1`.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        T: int,
        conv_layers: int,
        conv_channels: int,
        n_scales: int,
        dense_hidden: int,
        dense_layers: int,
        dense_out: int,
        pixel_layers: int,
        pixel_hidden: int,
        n_bumps: int,
    ) -> None:
        super().__init__()
        c, h, w = shape
        self.shape = shape
        convs, c_in = [], c
        for _ in range(conv_layers):
            convs.append(MultiScaleConv(c_in, conv_channels, n_scales))
            c_in = conv_channels
        self.convs = nn.Sequential(*convs)
        n_feat = c_in if conv_layers else 0
        self.dense = None
        if dense_hidden > 0:
            if dense_layers < 2:
                raise ValueError(f"the dense pathway needs dense_layers >= 2 (a hidden layer), got {dense_layers}")
            dense: list[nn.Module] = [nn.Flatten()]
            n_in = c * h * w
            for _ in range(dense_layers - 1):
                dense += [nn.Linear(n_in, dense_hidden), nn.Tanh()]
                n_in = dense_hidden
            self.dense = nn.Sequential(*dense, nn.Linear(n_in, dense_out * h * w))
            self.dense_out = dense_out
            n_feat += dense_out
        if n_feat == 0:
            raise ValueError("image reverse net needs conv_layers > 0 or dense_hidden > 0")
        pix: list[nn.Module] = []
        for _ in range(pixel_layers):
            pix += [nn.Conv2d(n_feat, pixel_hidden, 1), nn.Tanh()]
            n_feat = pixel_hidden
        self.pixel = nn.Sequential(*pix)
        self.readout = TimeReadout(n_feat, 2 * c, T, "bumps", n_bumps)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c, h, w = self.shape
        feats = []
        if len(self.convs):
            feats.append(self.convs(x))
        if self.dense is not None:
            feats.append(self.dense(x).view(x.shape[0], self.dense_out, h, w))
        f = self.pixel(torch.cat(feats, 1))
        z = self.readout(f.flatten(2).transpose(1, 2), t)  # [B, HW, 2C]
        z = z.transpose(1, 2).reshape(x.shape[0], 2 * c, h, w)
        return z[:, :c], z[:, c:]
