"""Every sampler keeps its tensors on the input's device, proved on a CPU machine with the `meta` device: a tensor
created on the default device (the CPU) instead of the input's meets a meta tensor and fails, as it would meet a
CUDA tensor on a GPU (the DLG pipeline's first CUDA run crashed this way)."""

from __future__ import annotations

import pytest
import torch
from sampler_cases import HOST_READS, sampler_cases

CASES = sampler_cases()


@pytest.mark.parametrize("name", sorted(set(CASES) - HOST_READS))
def test_sampler_output_stays_on_the_inputs_device(name: str) -> None:
    x = torch.empty(4, 3, 8, 8, device="meta")
    out = CASES[name](x, torch.randn_like)
    assert out.device == x.device and out.shape == x.shape


def test_a_tensor_made_on_the_default_device_is_caught() -> None:
    """The proxy can fail: the bug it stands for (a fresh CPU tensor mixed with the input) raises on meta."""
    x = torch.empty(4, 3, 8, 8, device="meta")
    with pytest.raises(RuntimeError, match="device"):
        _ = x + torch.ones(4, 3, 8, 8)
