"""Training-time image augmentations, driven by an explicit generator so a batch is a function of its step."""

from __future__ import annotations

from collections.abc import Callable

import torch


def dequantize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform dequantisation of [0, 1] images holding k/255 values: x*255/256 + U[0,1)/256 (NCSN's code).

    Every 8-bit level k maps onto its own bin [k/256, (k+1)/256), so the result stays in [0, 1).
    """
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x * (255.0 / 256.0) + u / 256.0


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None, p: float = 0.5) -> torch.Tensor:
    """Flip each image of a (N, C, H, W) batch left-right with probability `p`."""
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def image_transform(*, dequant: bool, flip: bool) -> Callable[[tuple, torch.Generator], tuple]:
    """A `TensorBatches` transform: augment the first tensor of the batch tuple (the images), keep the rest."""

    def transform(batch: tuple, generator: torch.Generator) -> tuple:
        x = batch[0]
        if flip:
            x = random_flip(x, generator)
        if dequant:
            x = dequantize(x, generator)
        return (x, *batch[1:])

    return transform
