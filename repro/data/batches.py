"""Minibatches as a pure function of the step, so a resumed training run sees exactly the same data."""

from __future__ import annotations

from collections.abc import Callable

import torch


class TensorBatches:
    """Epoch-wise shuffled minibatches of a tensor (or tuple of tensors sharing dim 0).

    Batch `step` comes from the permutation of epoch `step * batch_size // n`, seeded by (seed, epoch),
    so the sequence does not depend on where a run was interrupted. `transform(batch, generator)` may add
    per-batch randomness (flips, dequantisation) from a generator seeded by (seed, step).
    """

    def __init__(self, data: torch.Tensor | tuple[torch.Tensor, ...], batch_size: int, seed: int = 0,
                 transform: Callable | None = None) -> None:
        self.data = data if isinstance(data, tuple) else (data,)
        self.n = int(self.data[0].shape[0])
        if any(int(t.shape[0]) != self.n for t in self.data):
            raise ValueError("all tensors must share their first dimension")
        if batch_size <= 0 or self.n == 0:
            raise ValueError(f"need batch_size > 0 and data, got batch_size={batch_size}, n={self.n}")
        self.batch_size = batch_size
        self.seed = seed
        self.transform = transform

    def _perm(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=g)

    def __call__(self, step: int):
        start = step * self.batch_size
        idx = []
        while len(idx) < self.batch_size:
            epoch, offset = divmod(start + len(idx), self.n)
            take = min(self.batch_size - len(idx), self.n - offset)
            idx.extend(self._perm(epoch)[offset:offset + take].tolist())
        index = torch.tensor(idx)
        batch = tuple(t[index] for t in self.data)
        if self.transform is not None:
            g = torch.Generator().manual_seed(self.seed * 7_919 + step + 1)
            batch = self.transform(batch, g)
        return batch if len(batch) > 1 else batch[0]
