"""The GPU lane (`pytest -m gpu`): what only a CUDA machine can show. Skipped elsewhere, saying why (conftest).

Device placement of every sampler and of every stage of every image experiment, the fast settings against strict
fp32 within stated tolerances, bit-identical resume after SIGKILL on CUDA (training; a DLG point killed mid-way),
and more processes than GPUs refused.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import torch
from conftest import FIXTURES, ROOT
from sampler_cases import sampler_cases
from test_dlg_store import KILLS, assert_killed_point_resumes
from test_ncsnpp_progressive import fixture_config
from test_train import assert_sigkill_resume_is_bit_identical

from repro import registry, speed
from repro.nets.ncsn_checkpoint import build_from_official
from repro.nets.ncsnpp import NCSNpp
from repro.nets.score_sde_checkpoint import load_score_sde_checkpoint
from repro.run import run_root

pytestmark = pytest.mark.gpu
CUDA = torch.device("cuda")
CASES = sampler_cases()
IMAGE_EXPERIMENTS = sorted(k for k, e in registry.experiments().items() if e.gpu_stages or "sample" in e.stages)


def _host_noise(seed: int):
    """The same normal draws on every device: drawn on the host, then moved to the input's device."""
    g = torch.Generator().manual_seed(seed)
    return lambda t: torch.randn(t.shape, generator=g, dtype=t.dtype).to(t.device)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_sampler_on_cuda_equals_the_cpu(name: str) -> None:
    x = 2.0 * torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    on_cpu = CASES[name](x, _host_noise(1))
    on_gpu = CASES[name](x.to(CUDA), _host_noise(1))
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-9, atol=1e-9)  # float64: only the rounding differs


@pytest.mark.parametrize("key", IMAGE_EXPERIMENTS)
def test_every_stage_of_an_image_experiment_runs_on_cuda(key: str, tmp_path) -> None:
    exp = registry.get(key)
    for stage in exp.stages:
        cmd = [sys.executable, "-m", "repro", stage, key, "--tier", "smoke", "--runs-root", str(tmp_path)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{key} {stage} on CUDA:\n{done.stderr[-4000:]}"
        stamp = run_root(tmp_path, "smoke", exp.paper, exp.name, False) / f"stage_{stage}.json"
        if stage in exp.gpu_stages:
            assert "cpu" not in json.loads(stamp.read_text())["device"].lower(), f"{key} {stage} ran on the CPU"


def _refinenet() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    model, _ = build_from_official(FIXTURES / "ncsn_refinenet_tiny.pt")
    io = torch.load(FIXTURES / "ncsn_refinenet_tiny_io.pt", weights_only=True)
    return model, (io["x"], io["labels"])


def _ddpmpp() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    cfg, _ = fixture_config(FIXTURES, "ddpmpp_subvp_tiny")
    model = load_score_sde_checkpoint(NCSNpp(cfg), FIXTURES / "ddpmpp_subvp_tiny.pt", "model")
    io = torch.load(FIXTURES / "ddpmpp_subvp_tiny_io.pt", weights_only=True)
    return model, (io["x"], io["cond"])


# Relative RMS difference from strict fp32 allowed per setting. TF32 rounds matmul/convolution inputs to a 10-bit
# mantissa (unit roundoff 2^-11 = 4.9e-4) and bf16 to 7 bits (2^-8 = 3.9e-3); through a few dozen layers the errors
# add up to a few units of that, hence 10x and 13x of one roundoff. channels_last and compile run the same fp32
# arithmetic in another memory order or fused kernels: only the summation order changes.
FAST_SETTINGS = {"tf32": 5e-3, "bf16": 5e-2, "channels_last": 1e-5, "compile": 1e-4}


def _forward(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], setting: str | None) -> torch.Tensor:
    model = copy.deepcopy(model).to(CUDA)
    inputs = tuple(t.to(CUDA) for t in inputs)
    fn = speed.prepare_for_inference(model, channels_last=setting == "channels_last", compile=setting == "compile")
    speed.set_tf32(setting == "tf32")
    try:
        with torch.no_grad(), speed.autocast(setting == "bf16", CUDA):
            return fn(*inputs).float().cpu()
    finally:
        speed.set_tf32(False)


@pytest.mark.parametrize("net", [_refinenet, _ddpmpp], ids=["refinenet", "ddpmpp"])
@pytest.mark.parametrize("setting", sorted(FAST_SETTINGS))
def test_fast_settings_stay_within_their_tolerance_of_strict_fp32(net, setting: str) -> None:
    model, inputs = net()
    reference = _forward(model, inputs, None)
    fast = _forward(model, inputs, setting)
    rel = ((fast - reference).norm() / reference.norm()).item()
    assert rel <= FAST_SETTINGS[setting], f"{setting}: relative RMS difference {rel:.2e}"


def test_sigkill_then_resume_on_cuda_is_bit_identical(tmp_path) -> None:
    assert_sigkill_resume_is_bit_identical(tmp_path, deterministic=True)


def test_more_processes_than_gpus_is_refused_before_torchrun(tmp_path) -> None:
    n = torch.cuda.device_count() + 1
    cmd = [sys.executable, "-m", "repro", "train", "ncsn/mnist", "--tier", "smoke", "--runs-root", str(tmp_path)]
    done = subprocess.run([*cmd, "--nproc", str(n)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"--nproc {n} starts one process per GPU" in done.stderr


@pytest.mark.parametrize("kill_after", KILLS)
def test_a_killed_dlg_point_resumes_on_cuda_to_the_same_samples(tmp_path, kill_after: int) -> None:
    """papers.dlg.store on CUDA: the chains, the CUDA generators and the RNG come back from a partial save, and the
    point ends with the samples of an uninterrupted run in the same process."""
    assert_killed_point_resumes(tmp_path, kill_after, "cuda")
