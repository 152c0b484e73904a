"""bench.equivalence: the measures and the rule it reports, and that equal settings give equal samples."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.equivalence import SETTINGS, applied, digit_rows, harmless, rms_grey_levels


def test_rms_is_per_sample_in_grey_levels():
    a = torch.zeros(2, 4, 4, 1, dtype=torch.uint8)
    b = a.clone()
    b[0] = 3  # every pixel off by 3
    b[1, :2] = 4  # half the pixels off by 4: sqrt(16 / 2)
    assert rms_grey_levels(a, b).tolist() == pytest.approx([3.0, 8**0.5])


@pytest.mark.parametrize(
    ("effect", "spread", "expected"),
    [
        ([0.1, 0.1, 0.1, 0.1], 0.05, False),  # a steady shift beyond the spread
        ([0.01, 0.03], 0.05, True),  # mean 0.02, stderr 0.01: 0.04 < 0.05
        ([0.01, 0.03], 0.035, False),  # 0.04 > 0.035
        ([0.0], 1.0, False),  # one set has no stderr: nothing is shown
    ],
)
def test_the_rule_is_the_mean_effect_two_stderr_wide_inside_the_spread(effect, spread, expected):
    assert harmless(effect, spread) is expected


def test_a_setting_is_undone_after_its_block():
    net = nn.Conv2d(3, 8, 3)
    with applied("fast", net, torch.device("cpu")):
        assert net.weight.is_contiguous(memory_format=torch.channels_last)
        assert not torch.is_grad_enabled()
    assert net.weight.is_contiguous()
    if hasattr(torch.backends, "fp32_precision"):
        assert torch.backends.cudnn.conv.fp32_precision == "ieee"


def test_on_a_cpu_the_no_op_settings_reproduce_fp32_exactly(monkeypatch):
    """TF32 and bf16 autocast do nothing on a CPU, so with the same seeds their digit sets must equal fp32's to
    the last bit: any difference would be a seeding fault of the benchmark, not an effect of the setting."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the training subprocess too
    rows = {r.name: r for r in digit_rows(torch.device("cpu"), "smoke", sets=2, n=2)}
    assert rows["digits is_lenet [fp32]"].value > 0  # two seed sets differ
    for name in ("fp32 again", "tf32", "bf16"):
        assert rows[f"digits is_lenet [{name}]"].value == 0.0
    assert set(SETTINGS) <= {n.split("[")[1].rstrip("]") for n in rows}
