"""The samplers' own per-step work: pinned outputs (a speed change must not change a single bit) and a budget of
aten ops dispatched outside the network per evaluation (a deterministic stand-in for wall time, which a shared
machine cannot measure steadily; see `bench.samplers` for the timings).

The pinned outputs in `fixtures/sampler_outputs.pt` were recorded from the samplers before their per-step
arithmetic was regrouped (precomputed coefficients, in-place temporaries); regenerate them
(`PYTHONPATH=. python tests/test_sampler_ops.py --record`) only for an intended change of the numbers, and say so
in the change. The noise draws, Euler-Maruyama's log and RK45's exp are the only transcendental functions in these
cases, and torch's vectorised kernels for them differ in the last bit between CPUs (two AVX-512 machines disagreed
on float32 `randn`). So the cases run in a subprocess on torch's scalar kernels (`ATEN_CPU_CAPABILITY=default`,
which calls the C library's functions), the same on every x86-64 machine with this torch and glibc. There, too,
the samplers' `addcmul` rounds the product and then the sum as the formulas are written (vectorised kernels fuse
it), so the pins hold the samplers to the plain formulas.
RK45's pins were re-recorded once on purpose: its stage sums became one matrix-vector product each (BLAS order,
as scipy's `np.dot`), which rounds differently from the sum over stages, and with one grid for the batch sigma(u)
is a host float (float64 outputs of size about 3 moved by at most 1.2e-14). The batch-averaged PC pins were
re-recorded too: the corrector's ratio of two batch means became the ratio of the two sums (B cancels), and its
update became x + 2 snr r (z + snr r s) with r = |z| / |s| (PC outputs of size about 5 moved by at most 1.5e-6 in
float32 and 1.8e-15 in float64).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from repro.diffusion.nfe import CountingScore, OpsOutsideScore
from repro.diffusion.samplers import integrators as I
from repro.diffusion.samplers import langevin, pc, table
from repro.diffusion.sde import append_zero, geometric_sigmas, karras_sigmas

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "sampler_outputs.pt"
SHAPE = (3, 2, 4, 4)
STARTS = torch.tensor([3.0, 1.5, 0.6], dtype=torch.float64)  # per-sample starts, as DLG denoises its chains
GRID = geometric_sigmas(6, 3.0, 0.02)  # crosses the churn window [0.05, 1]


def _score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """A cheap nonlinear score, so that a changed evaluation point shows in the output; only correctly rounded
    arithmetic (no sin or exp, whose last bit may depend on the CPU's vector kernels)."""
    return -x / (1 + sigma.reshape(-1, *([1] * (x.ndim - 1))) ** 2) + 0.1 * x / (1 + x * x)


def _spec_grid(name: str, n: int) -> torch.Tensor:
    return table.get(name).sigmas(n, STARTS, 0.02)


def _half(v: torch.Tensor) -> torch.Tensor:
    """A projection (the first channel only), as subspace diffusion's conditional Langevin uses one."""
    return torch.cat([v[:, :1], torch.zeros_like(v[:, 1:])], dim=1)


Run = Callable[[Callable, torch.Tensor, Callable], torch.Tensor]
CASES: dict[str, Run] = {
    "annealed_langevin": lambda s, x, z: langevin.annealed_langevin(s, x, GRID.tolist(), n_steps=3, noise=z),
    "langevin_paper": lambda s, x, z: langevin.langevin(s, x, 0.3, n_steps=4, eps=1e-2, convention="paper", noise=z),
    "inpaint": lambda s, x, z: langevin.annealed_langevin_inpaint(
        s, x, GRID.tolist(), known=torch.ones_like(x), mask=torch.arange(4) < 2, n_steps=2, noise=z
    ),
    "euler_maruyama": lambda s, x, z: I.euler_maruyama(s, x, GRID, noise=z),
    "euler_maruyama_per_sample": lambda s, x, z: I.euler_maruyama(s, x, _spec_grid("euler_maruyama", 5), noise=z),
    "reverse_diffusion": lambda s, x, z: I.reverse_diffusion(s, x, append_zero(GRID), noise=z),
    "reverse_diffusion_per_sample": lambda s, x, z: I.reverse_diffusion(
        s, x, _spec_grid("reverse_diffusion", 5), noise=z
    ),
    "probability_flow": lambda s, x, z: I.probability_flow(s, x, GRID, noise=z),
    "probability_flow_per_sample": lambda s, x, z: I.probability_flow(s, x, _spec_grid("probability_flow", 5)),
    "karras_heun": lambda s, x, z: I.karras_heun(s, x, append_zero(karras_sigmas(6, 3.0, 0.02))),
    "karras_heun_per_sample": lambda s, x, z: I.karras_heun(s, x, _spec_grid("karras_heun", 6)),
    "karras_stochastic": lambda s, x, z: I.karras_stochastic(s, x, append_zero(GRID), noise=z),
    "karras_stochastic_per_sample": lambda s, x, z: I.karras_stochastic(
        s, x, _spec_grid("karras_stochastic", 6), noise=z, s_churn=10.0
    ),
    "rk45": lambda s, x, z: I.rk45(s, x, torch.tensor([3.0, 0.02]), rtol=1e-4, atol=1e-4),
    "rk45_per_sample": lambda s, x, z: I.rk45(s, x, _spec_grid("rk45", 1), rtol=1e-3, atol=1e-3),
    "pc_sampler": lambda s, x, z: pc.pc_sampler(s, x, append_zero(GRID), noise=z),
    "pc_sampler_sample_norms": lambda s, x, z: pc.pc_sampler(
        s, x, _spec_grid("reverse_diffusion", 4), noise=z, n_corrector=2, norms="sample"
    ),
    "pc_sampler_no_denoise": lambda s, x, z: pc.pc_sampler(s, x, GRID, noise=z, n_corrector=0, denoise=False),
    "projected_corrector": lambda s, x, z: pc.langevin_corrector(
        s, x, torch.full((SHAPE[0],), 0.3, dtype=x.dtype), snr=0.22, n_steps=3, noise=z, project=_half
    ),
}
DTYPES = (torch.float32, torch.float64)


def _run(name: str, dtype: torch.dtype, score: Callable = _score) -> torch.Tensor:
    """The case on a seeded start with seeded noise, both drawn in `dtype`."""
    gen = torch.Generator().manual_seed(0)
    x = 2.0 * torch.randn(SHAPE, generator=gen, dtype=dtype)
    return CASES[name](score, x, lambda v: torch.randn(v.shape, generator=gen, dtype=v.dtype))


def _outputs() -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    return {f"{name}/{dtype}": _run(name, dtype) for name in CASES for dtype in DTYPES}


@pytest.fixture(scope="module")
def portable_outputs(tmp_path_factory) -> dict[str, torch.Tensor]:
    """Every case's output, computed on torch's scalar kernels in a subprocess (see the module docstring)."""
    path = tmp_path_factory.mktemp("sampler_outputs") / "outputs.pt"
    _in_scalar_subprocess("--emit", path)
    return torch.load(path)


def _in_scalar_subprocess(*args) -> None:
    root = Path(__file__).resolve().parents[1]
    # MKL (RK45's stage sums) in its mode that gives the same numbers on every CPU
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, __file__, *map(str, args)], env=env, check=True, cwd=root)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(CASES))
def test_sampler_outputs_are_bit_identical_to_the_pinned_ones(name, dtype, portable_outputs):
    expected = torch.load(FIXTURE)[f"{name}/{dtype}"]
    out = portable_outputs[f"{name}/{dtype}"]
    assert out.dtype == dtype and out.shape == SHAPE
    assert torch.equal(out.double(), expected), f"{name} {dtype}: max diff {(out.double() - expected).abs().max()}"


def test_the_pins_run_on_the_scalar_kernels(portable_outputs):
    """The subprocess really ran on the scalar kernels: its float32 noise is not the vectorised kernels' noise
    (the two differ on this test's draws wherever a vector unit is used, and agree where none is)."""
    here = _run("euler_maruyama", torch.float32)
    vectorised = torch.backends.cpu.get_cpu_capability() != "DEFAULT"
    assert torch.equal(here, portable_outputs["euler_maruyama/torch.float32"]) != vectorised


# The ops each sampler dispatches outside the network per evaluation, step after step (the grids' one-off setup
# cancels in the difference of two runs). The samplers compute their coefficients for the whole grid up front, so a
# step is its noise draw and full-size arithmetic only, every x + a v one `addcmul`:
#   Langevin: add, draw, add_; EM / reverse diffusion: draw, addcmul (mean), addcmul (noise); probability flow:
#   addcmul; Heun (2 evaluations): 2 x (mul) for the slopes, addcmul for the Euler point, add_, mul (h / 2), mul_,
#   add_ for the average; stochastic Heun adds the draw and addcmul of the churn;
#   PC: the corrector's two batch-summed norms (a norm keeping its dims and a sum each) and their ratio r (snr rides
#   in the updates' scalar factors), its update x + 2 snr r (z + snr r s) (2), its draw, then the predictor (3), over
#   2 evaluations.
MARGINAL_OPS = {
    "annealed_langevin": 3.0,
    "euler_maruyama": 3.0,
    "reverse_diffusion": 3.0,
    "probability_flow": 1.0,
    "karras_heun": 3.5,
    "karras_stochastic": 4.5,
    "pc_sampler": 5.5,
}


def _grid(n: int) -> torch.Tensor:
    return geometric_sigmas(n, 5.0, 0.02)


def _karras(n: int) -> torch.Tensor:
    return append_zero(karras_sigmas(n, 5.0, 0.02))


# per sampler: (its grid for about n evaluations, built before counting; the sampler on that grid)
STEPPED: dict[str, tuple[Callable, Callable]] = {
    "annealed_langevin": (lambda n: n, lambda s, x, n: langevin.annealed_langevin(s, x, [5.0, 1.0, 0.2], n_steps=n)),
    "euler_maruyama": (lambda n: _grid(n + 1), I.euler_maruyama),
    "reverse_diffusion": (lambda n: append_zero(_grid(n)), I.reverse_diffusion),
    "probability_flow": (lambda n: _grid(n + 1), I.probability_flow),
    "karras_heun": (_karras, I.karras_heun),
    "karras_stochastic": (_karras, I.karras_stochastic),
    "pc_sampler": (lambda n: append_zero(_grid(n)), pc.pc_sampler),
}


def _ops(sampler: Callable, x: torch.Tensor, grid, **kwargs) -> tuple[int, int]:
    """(ops outside the score, evaluations) of one run."""
    score = CountingScore(lambda v, sigma: 0.5 * v)
    with OpsOutsideScore() as mode:
        sampler(mode.wrap(score), x, grid, **kwargs)
    return mode.ops, score.nfe


@pytest.mark.parametrize("name", sorted(STEPPED))
def test_a_sampler_step_dispatches_no_more_ops_than_its_formula_needs(name):
    grid_for, sampler = STEPPED[name]
    x = torch.randn(SHAPE)
    (ops_a, nfe_a), (ops_b, nfe_b) = (_ops(sampler, x, grid_for(n)) for n in (8, 16))
    assert nfe_b > nfe_a
    assert (ops_b - ops_a) / (nfe_b - nfe_a) <= MARGINAL_OPS[name]


@pytest.mark.parametrize(
    "grid, budget", [((5.0, 0.02), 7.5), ([(5.0, 0.02)] * SHAPE[0], 12.5)], ids=["shared", "per_sample"]
)
def test_rk45_dispatches_few_ops_per_evaluation_outside_the_score(grid, budget):
    """Per evaluation: the noise level for the score (one op for a shared grid, whose sigma(u) and slope are host
    floats; five for per-sample grids), the cast for the score, and the slope's product written into the stage
    buffer (2); per step of six evaluations, the six stage sums (one `addmv` each), the error norm and the step
    decision (7: |y_new|, the scale in two, the error estimate as one more `addmv`, its division, norm and host
    read), and the first-same-as-last copy."""
    ops, nfe = _ops(I.rk45, torch.randn(SHAPE), torch.tensor(grid), rtol=1e-4, atol=1e-4)
    assert nfe > 20 and ops / nfe <= budget


@pytest.mark.parametrize("norms", pc.NORMS)
def test_the_corrector_update_promotes_to_the_state_dtype(norms):
    """Under autocast a network may return bfloat16: x + eps s must still be float32 (a 0-dim eps would take no
    part in the promotion and round the update to bfloat16)."""
    x = torch.randn(SHAPE)
    x_new = pc.langevin_corrector_step(lambda v, s: -v.bfloat16(), x, torch.ones(SHAPE[0]), snr=0.16, norms=norms)
    assert x_new.dtype == torch.float32


def test_op_counting_excludes_the_score_and_counts_the_rest():
    score = CountingScore(lambda v, sigma: (v * 2).sin().cos())  # 3 ops inside, not counted
    x, sigma = torch.ones(2), torch.ones(2)
    with OpsOutsideScore() as mode:
        wrapped = mode.wrap(score)
        y = wrapped(x, sigma) + 1  # 1 op outside
        wrapped(y, sigma)
    assert (mode.ops, score.nfe) == (1, 2)


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    _in_scalar_subprocess("--emit", FIXTURE)
    print(f"wrote {len(CASES) * len(DTYPES)} outputs to {FIXTURE}")
elif __name__ == "__main__" and sys.argv[1:2] == ["--emit"]:
    assert torch.backends.cpu.get_cpu_capability() == "DEFAULT", "run through _in_scalar_subprocess"
    torch.save({k: v.double() if sys.argv[2] == str(FIXTURE) else v for k, v in _outputs().items()}, sys.argv[2])
