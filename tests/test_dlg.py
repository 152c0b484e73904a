"""DLG: the Gibbs sweep, minimum-sigma selection, level order, NFE accounting, classifiers and the converter."""

import math

import pytest
import torch

from papers.dlg import denoise as D
from papers.dlg.classifier import MLPClassifier, OracleLevelPosterior, SimpleCNN, SimpleCNN256, level_loss
from papers.dlg.convert import load_dmcmc_classifier
from papers.dlg.gibbs import (
    ClassifierCalls,
    DLGChains,
    DLGSection,
    DLGSettings,
    gibbs_sweep,
    keep_min_sigma,
    level_sigma,
    vanilla,
)
from papers.dlg.nets import TinyScoreNet
from repro.diffusion.nfe import CountingScore
from repro.diffusion.sde import dlg_level_grid
from repro.diffusion.toy.gmm import GaussianMixture

LEVELS = dlg_level_grid(0.01, 20.0, 1000)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def gaussian(d=8, s=1.0):
    return GaussianMixture([1.0], torch.zeros(1, d, dtype=torch.float64), stds=s)


def test_sweep_is_a_fixed_step_langevin_move_then_argmax_level():
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    z = torch.tensor([[0.5, -0.5]], dtype=torch.float64)

    def score(x, s):
        return -x / (1 + s[:, None] ** 2)

    def classifier(x):
        return torch.nn.functional.one_hot(torch.tensor([7]), 1000).double()

    sigma = torch.tensor([3.0], dtype=torch.float64)
    xn, sn = gibbs_sweep(score, classifier, LEVELS, x, sigma, 0.4, noise=lambda t: z)
    torch.testing.assert_close(xn, x + 0.2 * (-x / 10) + math.sqrt(0.4) * z)
    torch.testing.assert_close(sn, LEVELS[7:8])


def test_level_zero_is_sigma_max_and_oracle_finds_the_noise_level():
    mix = gaussian(d=256, s=1e-3)  # clean data much sharper than every level, so each level is identifiable
    oracle = OracleLevelPosterior(mix, LEVELS)
    for k in (0, 300, 700):
        x = mix.sample(4, torch.Generator().manual_seed(k)) + LEVELS[k] * torch.randn(4, 256, dtype=torch.float64)
        est = level_sigma(oracle, LEVELS, x)
        assert ((est / LEVELS[k]).log().abs() < 0.15).all(), (k, est)
    assert float(LEVELS[0]) == pytest.approx(20.0)


def test_oracle_is_the_bayes_posterior_over_levels():
    mix = GaussianMixture([0.3, 0.7], torch.tensor([[-2.0, 0.0], [2.0, 1.0]], dtype=torch.float64), stds=0.5)
    x = torch.randn(3, 2, dtype=torch.float64)
    post = torch.softmax(OracleLevelPosterior(mix, LEVELS[:5])(x), -1)
    joint = torch.stack([mix.log_prob(x, s).exp() for s in LEVELS[:5]], -1)
    torch.testing.assert_close(post, joint / joint.sum(-1, keepdim=True))


def test_keep_min_sigma_keeps_the_block_start_on_ties():
    x0, s0 = torch.zeros(3, 2), torch.tensor([1.0, 1.0, 1.0])
    x1, s1 = torch.ones(3, 2), torch.tensor([0.5, 1.0, 2.0])
    xm, sm = keep_min_sigma(x0, s0, x1, s1)
    assert sm.tolist() == [0.5, 1.0, 1.0]
    assert xm[:, 0].tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("name", ["kar1", "kar2", "pfode", "rd", "em"])
@pytest.mark.parametrize("budget", [10, 20, 48])
def test_budget_split_is_exact(name, budget):
    n_skip, n = D.split_budget(name, budget, 0.2, dlg=True)
    assert n_skip >= 1 and n_skip + D.spec(name).nfe(n) + 1 == budget
    if budget % 2 == 0 or name not in ("kar1", "kar2"):
        assert D.split_budget(name, budget, 0.2, dlg=False)[0] == 0


def test_notebook_default_counts_48_per_sample():
    """KAR2, N = 20, n_skip = 10: 10 + (2 * 19 - 1) + 1 = 48, counted by wrapping the score."""
    mix = gaussian(d=4)
    settings = DLGSettings(eta=0.1, n_skip=10, burn_in=[(2, 0.1)], sigma_max=20.0)
    counted = CountingScore(mix.score)
    chains = DLGChains(counted, ClassifierCalls(OracleLevelPosterior(mix, LEVELS)), LEVELS, settings)
    chains.initialise(20.0 * torch.randn(16, 4, dtype=torch.float64))
    assert counted.nfe == (2 * 19 - 1) + 2  # KAR2 initialisation (N = 20, as upstream) + two burn-in sweeps
    before, calls = counted.nfe, chains.classifier.calls
    chains.round("kar2", 20)
    assert counted.nfe - before == 48
    assert chains.classifier.calls - calls == 10


def test_dlg_with_exact_scores_recovers_a_gaussian():
    mix = gaussian(d=16, s=1.5)
    gen = torch.Generator().manual_seed(0)

    def noise(t):
        return torch.randn(t.shape, generator=gen, dtype=t.dtype)

    settings = DLGSettings(eta=0.5, n_skip=4, burn_in=[(10, 0.5), (10, 0.5)], sigma_max=20.0)
    chains = DLGChains(mix.score, OracleLevelPosterior(mix, LEVELS), LEVELS, settings, noise=noise)
    chains.initialise(20.0 * torch.randn(300, 16, generator=gen, dtype=torch.float64))
    out = torch.cat([chains.round("kar1", 6) for _ in range(2)])
    assert abs(float(out.var()) - 2.25) < 0.2
    assert abs(float(out.mean())) < 0.05


def test_sampled_level_ablation_draws_from_the_classifier():
    logits = torch.log(torch.tensor([[0.0, 1.0, 0.0, 0.0]]) + 1e-30).expand(50, 4)
    s = level_sigma(
        lambda x: logits, LEVELS[:4], torch.zeros(50, 2), sample=True, generator=torch.Generator().manual_seed(0)
    )
    assert (s == LEVELS[1].float()).all()


def test_classifier_shapes_and_loss():
    assert SimpleCNN()(torch.zeros(2, 3, 32, 32)).shape == (2, 1000)
    assert SimpleCNN(channels=1, image_size=28)(torch.zeros(2, 1, 28, 28)).shape == (2, 1000)
    assert SimpleCNN256()(torch.zeros(1, 3, 256, 256)).shape == (1, 1000)
    mlp = MLPClassifier(3, 10, hidden=8, depth=1)
    x = torch.randn(5, 3)
    levels = torch.linspace(2.0, 0.1, 10)
    torch.manual_seed(0)
    loss = level_loss(levels)(mlp, x)
    torch.manual_seed(0)
    k = torch.randint(0, 10, (5,))
    ref = torch.nn.functional.cross_entropy(mlp(x + levels[k][:, None] * torch.randn_like(x)), k)
    torch.testing.assert_close(loss, ref)


def test_dmcmc_checkpoint_converter(tmp_path):
    net = SimpleCNN()
    path = tmp_path / "200.pt"
    torch.save({"epoch": 200, "opt": {}, "net": net.state_dict()}, path)
    loaded = load_dmcmc_classifier(path, "cifar10")
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x), net(x))
    bad = dict(net.state_dict())
    bad["fc2.weight"] = bad.pop("fc.weight")
    torch.save({"epoch": 1, "opt": {}, "net": bad}, path)
    with pytest.raises(ValueError, match="missing \\['fc.weight'\\], unexpected \\['fc2.weight'\\]"):
        load_dmcmc_classifier(path, "cifar10")
    with pytest.raises(FileNotFoundError, match="DMCMC classifier checkpoint not found"):
        load_dmcmc_classifier(tmp_path / "absent.pt")


def test_float32_oracle_agrees_with_float64():
    mix = GaussianMixture([0.25, 0.75], 5 * torch.eye(2, 32, dtype=torch.float64), stds=1.0)
    x = mix.sample(64, torch.Generator().manual_seed(3)) + LEVELS[::15][:64, None] * torch.randn(
        64, 32, dtype=torch.float64
    )
    exact = level_sigma(OracleLevelPosterior(mix, LEVELS), LEVELS, x)
    fast = level_sigma(OracleLevelPosterior(mix, LEVELS, dtype=torch.float32), LEVELS, x)
    assert ((fast.double() / exact).log().abs() < 0.01).float().mean() > 0.95


def test_a_point_splits_its_budget_or_runs_rk45_after_rk45_skip_sweeps():
    d = DLGSection(
        chains=4,
        eta=0.5,
        burn_in=((2, 0.5),),
        init_levels=5,
        init_noise=0.5,
        tweedie_eps=0.01,
        skip_fraction=0.2,
        rk45_skip=3,
    )
    assert d.split("rk45", True, tol=0.01) == (3, 0, 0.01)
    assert d.split("rk45", False, tol=0.01) == (0, 0, 0.01)
    assert d.split("kar2", True, budget=48) == (*D.split_budget("kar2", 48, 0.2, dlg=True), 0.0)
    s = d.settings(7, 20.0, 0.01)
    assert (s.n_skip, s.eta, list(s.burn_in), s.sigma_max) == (7, 0.5, [(2, 0.5)], 20.0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", D.INTEGRATORS)
def test_chains_and_baseline_follow_the_inputs_device_and_dtype(device, name):
    """Grids are built on the host and moved to x; the selected levels live on x's device (on CUDA, a host grid
    from a device sigma crashed the cifar10 sample stage), and every returned tensor follows x."""
    torch.manual_seed(0)
    net = TinyScoreNet(1, 8).to(device).eval()
    clf = SimpleCNN(20, channels=1, image_size=16).to(device).eval()
    levels = dlg_level_grid(0.01, 20.0, 20).float().to(device)
    settings = DLGSettings(eta=0.5, n_skip=1, burn_in=[(1, 0.5)], sigma_max=20.0, init_levels=3)
    n = 0 if D.spec(name).adaptive else 3
    x_prior = 20.0 * torch.randn(2, 1, 16, 16, device=device)
    with torch.no_grad():
        chains = DLGChains(net, clf, levels, settings)
        chains.initialise(x_prior)
        out = chains.round(name, n, tol=0.1)
        base = vanilla(net, name, x_prior, sigma_max=20.0, n=n, tol=0.1)
    for t in (chains.x, chains.sigma, out, base):
        assert (t.device, t.dtype) == (x_prior.device, x_prior.dtype)
