"""A small noise-conditional score network for CPU-sized digit images (the cpu tier's stand-in for NCSN++)."""

from __future__ import annotations

import math

import torch
from torch import nn


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.norm1, self.norm2 = nn.GroupNorm(8, c_out), nn.GroupNorm(8, c_out)
        self.emb = nn.Linear(emb, c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.act(self.norm1(self.conv1(x))) + self.emb(e)[:, :, None, None]
        return self.skip(x) + self.act(self.norm2(self.conv2(h)))


class TinyScoreNet(nn.Module):
    """Two-level conv U-Net; s(x, sigma) = F(x / sqrt(data_std^2 + sigma^2), log sigma) / sigma.

    The input scaling keeps activations O(1) at every sigma and the division by sigma matches NCSN++'s
    `scale_by_sigma`, so a small net trained briefly gives usable VE scores.
    """

    def __init__(self, channels: int = 1, width: int = 32, data_std: float = 0.5) -> None:
        super().__init__()
        self.data_std = data_std
        emb = 4 * width
        self.register_buffer("freqs", torch.randn(width // 2) * 4.0, persistent=True)
        self.embed = nn.Sequential(nn.Linear(width, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.down1, self.down2 = _Block(width, width, emb), _Block(2 * width, 2 * width, emb)
        self.pool = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.mid = _Block(2 * width, 2 * width, emb)
        self.up = nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1)
        self.up1 = _Block(2 * width, width, emb)
        self.out = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = sigma.to(x.dtype)
        ang = 2 * math.pi * torch.log(sigma)[:, None] * self.freqs[None]
        e = self.embed(torch.cat([ang.sin(), ang.cos()], -1))
        h0 = self.inp(x / torch.sqrt(self.data_std**2 + sigma**2)[:, None, None, None])
        h1 = self.down1(h0, e)
        h2 = self.mid(self.down2(self.pool(h1), e), e)
        u = self.up(h2)
        u = nn.functional.pad(u, (0, h1.shape[-1] - u.shape[-1], 0, h1.shape[-2] - u.shape[-2]))
        return self.out(self.up1(torch.cat([u, h1], 1), e)) / sigma[:, None, None, None]
