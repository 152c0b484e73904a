"""Speed options (channels_last, TF32, torch.compile) are correct on a CPU, and the training loop and the samplers
never synchronise with the host per step (the property that lets GPU work queue up and CUDA graphs pay off)."""

import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from repro import speed
from repro.data.batches import TensorBatches
from repro.diffusion.nfe import CountingScore
from repro.diffusion.samplers import integrators, langevin, pc
from repro.diffusion.sde import append_zero, geometric_sigmas
from repro.run import Run
from repro.train import TrainConfig, train

REPRO = str(Path(__file__).resolve().parents[1] / "repro")
# Ops that read device data on the host: .item()/float()/bool()/if tensor, data-dependent shapes, tensor equality.
SYNC_OPS = {"_local_scalar_dense", "is_nonzero", "nonzero", "masked_select", "equal", "unique_consecutive", "_unique2"}
PLUMBING = (
    "torch/_tensor.py",
    "torch/utils/_python_dispatch.py",
    "torch/_ops.py",
    "torch/overrides.py",
    "torch/_compile.py",
    "torch/_dynamo/",
)


class HostSyncs(TorchDispatchMode):
    """Counts host-synchronising ops whose Python caller is a file of `repro/` (torch's own, e.g. Adam reading
    its CPU step counter, are not ours and do not sync a GPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func._overloadpacket.__name__ in SYNC_OPS:
            frame = sys._getframe(1)
            while frame is not None and any(p in frame.f_code.co_filename for p in PLUMBING):
                frame = frame.f_back
            if frame is not None and frame.f_code.co_filename.startswith(REPRO):
                self.calls.append(f"{func} at {frame.f_code.co_filename}:{frame.f_lineno}")
        return func(*args, **(kwargs or {}))


class TinyConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2, 6, 3, padding=1), nn.GroupNorm(2, 6), nn.SiLU(), nn.Conv2d(6, 2, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _fit(tmp_path: Path, name: str, **options) -> tuple[nn.Module, list[float]]:
    """A tiny denoising training (random noise from the global RNG, EMA, clipping); returns model and logged losses."""
    run = Run("test", name, "smoke", {"seed": 1}, runs_root=tmp_path)
    torch.manual_seed(0)
    model = TinyConv()
    data = torch.randn(32, 2, 6, 6, generator=torch.Generator().manual_seed(2))
    cfg = TrainConfig(
        steps=options.pop("steps", 8),
        lr=1e-2,
        batch_size=8,
        ema_decay=0.9,
        grad_clip=1.0,
        warmup=2,
        log_every=options.pop("log_every", 4),
        ckpt_every=1000,
        **options,
    )

    def loss_fn(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
        noisy = x + 0.5 * torch.randn_like(x)
        return ((m(noisy) - x) ** 2).mean()

    model = train(run, model, loss_fn, TensorBatches(data, 8, seed=run.seed), cfg)
    log = run.root / "train_model.jsonl"
    return model, [json.loads(line)["loss"] for line in log.read_text().splitlines()]


def _assert_close_training(a, b, atol: float) -> None:
    (ma, la), (mb, lb) = a, b
    assert la == pytest.approx(lb, abs=atol)
    for (k, va), vb in zip(ma.state_dict().items(), mb.state_dict().values(), strict=True):
        torch.testing.assert_close(va, vb, rtol=0, atol=atol, msg=k)


def test_channels_last_training_matches_default_on_cpu(tmp_path):
    default = _fit(tmp_path, "default")
    cl = _fit(tmp_path, "cl", channels_last=True)
    assert cl[0].net[0].weight.is_contiguous(memory_format=torch.channels_last)
    _assert_close_training(cl, default, atol=1e-5)


def test_tf32_is_a_no_op_on_cpu(tmp_path):
    _assert_close_training(_fit(tmp_path, "tf32", tf32=True), _fit(tmp_path, "fp32"), atol=0)


def test_compiled_loss_matches_default_on_cpu(tmp_path):
    # "aot_eager" runs the whole torch.compile path (dynamo graph capture + AOT autograd) in seconds; inductor
    # ("default") would compile C++ for about a minute on a CPU, so it is left to the GPU benchmark.
    _assert_close_training(_fit(tmp_path, "compiled", compile="aot_eager"), _fit(tmp_path, "eager"), atol=1e-5)


def test_unknown_compile_option_is_rejected_with_its_name():
    with pytest.raises(ValueError, match="training config 'model': compile: unknown torch.compile option 'fastest'"):
        TrainConfig(steps=1, lr=1e-3, batch_size=1, compile="fastest")
    with pytest.raises(ValueError, match="unknown torch.compile option 'turbo'"):
        speed.prepare_for_inference(TinyConv(), compile="turbo")


def test_prepare_for_inference_keeps_the_function_and_drops_gradients():
    torch.manual_seed(0)
    model, x = TinyConv(), torch.randn(3, 2, 6, 6)
    expected = model(x).detach()
    fast = speed.prepare_for_inference(model, channels_last=True)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert model.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast(x), expected, rtol=0, atol=1e-5)


def test_training_loop_reads_the_loss_once_per_log_interval(tmp_path):
    counts = []
    for steps in (6, 12):
        with HostSyncs() as mode:
            _fit(tmp_path, f"sync{steps}", steps=steps, log_every=steps)
        counts.append(mode.calls)
    assert counts[0], "the log step must read the loss (else this probe sees nothing)"
    assert len(counts[1]) == len(counts[0]), f"extra host syncs per step: {counts[1]}"


def _gauss_score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    return -x / (1 + sigma.view(-1, *([1] * (x.dim() - 1))) ** 2)


GRID = geometric_sigmas(6, 5.0, 0.1)
SAMPLERS = {
    "annealed_langevin": lambda x: langevin.annealed_langevin(_gauss_score, x, GRID.tolist(), n_steps=3),
    "euler_maruyama": lambda x: integrators.euler_maruyama(_gauss_score, x, GRID),
    "reverse_diffusion": lambda x: integrators.reverse_diffusion(_gauss_score, x, append_zero(GRID)),
    "probability_flow": lambda x: integrators.probability_flow(_gauss_score, x, GRID),
    "karras_heun": lambda x: integrators.karras_heun(_gauss_score, x, append_zero(GRID)),
    "karras_stochastic": lambda x: integrators.karras_stochastic(_gauss_score, x, append_zero(GRID)),
    "pc_sampler": lambda x: pc.pc_sampler(_gauss_score, x, append_zero(GRID)),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_loops_never_sync_with_the_host(name):
    with HostSyncs() as mode:
        out = SAMPLERS[name](torch.randn(4, 2, 3, 3))
    assert out.shape == (4, 2, 3, 3) and torch.isfinite(out).all()
    assert mode.calls == [], f"{name} synchronises with the host: {mode.calls}"


def test_rk45_syncs_once_per_step_never_per_evaluation():
    """An adaptive step must decide on the host whether to accept; its six evaluations stay on the device.

    The start costs two evaluations and three syncs (the initial step size) and one read of a shared grid's two
    ends (`tolist`, which no dispatch mode sees on a CPU); each attempted step six evaluations and one sync."""
    counted = CountingScore(_gauss_score)
    with HostSyncs() as mode:
        integrators.rk45(counted, torch.randn(4, 2, 3, 3), torch.tensor([5.0, 0.1]), rtol=1e-4, atol=1e-4)
    attempts = (counted.nfe - 2) // 6
    assert attempts >= 3 and counted.nfe == 2 + 6 * attempts
    assert len(mode.calls) == 3 + attempts, mode.calls


def test_speed_options_may_change_between_a_run_and_its_resume_but_the_math_may_not(tmp_path):
    model, _ = _fit(tmp_path, "resume", steps=4)
    again, _ = _fit(tmp_path, "resume", steps=4, channels_last=True, compile="eager")  # finished: loads, no steps
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    with pytest.raises(RuntimeError, match=r"different training config \(tf32\)"):
        _fit(tmp_path, "resume", steps=4, tf32=True)
