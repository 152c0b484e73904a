"""Sohl-Dickstein 2015: kernels, posteriors, entropies, KLs and the bound against closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from papers.sohl import data
from papers.sohl.binomial import BinomialDiffusion, bernoulli_entropy, bernoulli_kl_logits, binomial_betas
from papers.sohl.gaussian import GaussianDiffusion, Schedule, gaussian_entropy, gaussian_kl, log_std_normal
from papers.sohl.nets import MLP, VectorReverseNet, bump_matrix

LN2 = math.log(2)


pytestmark = pytest.mark.usefixtures("one_thread")


def gaussian_model(T: int = 10, d: int = 2, beta1: float = 0.01, learned: bool = False, mean_param="forward"):
    net = VectorReverseNet(MLP(d, [8], "tanh"), d, T, 2, "per_step")
    return GaussianDiffusion(net, Schedule(T, beta1, learned), mean_param)


def binomial_model(T: int = 8, d: int = 3, p: float = 0.2):
    return BinomialDiffusion(VectorReverseNet(MLP(d, [8], "sigmoid"), d, T, 1, "per_step"), T, p)


# --- closed forms on hand-computed cases -------------------------------------------------------------


def test_gaussian_kl_and_entropy_hand_values():
    kl = gaussian_kl(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(1.0), torch.tensor(2.0))
    assert kl.item() == pytest.approx(0.5 * math.log(2), abs=1e-7)  # 0.5(ln 2 + (1 + 1)/2 - 1)
    assert gaussian_kl(torch.tensor(0.3), torch.tensor(0.7), torch.tensor(0.3), torch.tensor(0.7)).item() == 0
    assert gaussian_entropy(torch.tensor(1.0)).item() == pytest.approx(0.5 * (1 + math.log(2 * math.pi)))
    assert gaussian_entropy(torch.tensor(4.0)).item() == pytest.approx(1.4189385 + math.log(2), abs=1e-6)


def test_bernoulli_kl_and_entropy_hand_values():
    assert bernoulli_entropy(torch.tensor(0.2)).item() / LN2 == pytest.approx(0.721928, abs=1e-6)
    assert bernoulli_entropy(torch.tensor([0.0, 1.0])).tolist() == [0.0, 0.0]
    kl = bernoulli_kl_logits(torch.tensor(0.5), torch.logit(torch.tensor(0.25)))
    assert kl.item() == pytest.approx(0.5 * math.log(4 / 3), abs=1e-6)  # .5 ln(.5/.25) + .5 ln(.5/.75)
    kl1 = bernoulli_kl_logits(torch.tensor(1.0), torch.logit(torch.tensor(0.8)))
    assert kl1.item() == pytest.approx(-math.log(0.8), abs=1e-6)


def test_null_values_of_sheet_section_1_3():
    # unit-variance Gaussian null per scalar: -1/2 log2(2 pi e); x^2 = 1 is the unit-variance average
    assert log_std_normal(torch.ones(1, 1)).item() / LN2 == pytest.approx(-2.047096, abs=1e-6)
    assert log_std_normal(torch.ones(1, 2)).item() / LN2 == pytest.approx(-4.094192, abs=1e-5)
    assert log_std_normal(torch.ones(1, 3)).item() / LN2 == pytest.approx(-6.141289, abs=1e-5)
    seq = data.heartbeat(7, torch.Generator().manual_seed(0))
    null = binomial_model(T=4, d=20).log_null(seq) / LN2
    assert torch.allclose(null, torch.full((7,), -14.4386), atol=1e-4)


# --- forward kernels ---------------------------------------------------------------------------------


def test_binomial_forward_marginal_matches_closed_form():
    T, p = 10, 0.2
    m = binomial_model(T=T, d=1, p=p)
    assert torch.allclose(
        torch.cumprod(1 - binomial_betas(T), 0), (T - torch.arange(1, T + 1)).double() / T, atol=1e-12
    )
    for x0 in (0.0, 1.0):
        prob = torch.tensor([[x0]])
        for t in range(1, T + 1):  # exact one-step recursion vs abar_t x0 + (1 - abar_t) p
            prob = m.forward_prob(prob, torch.tensor([t]))
            assert prob.item() == pytest.approx((T - t) / T * x0 + t / T * p, abs=1e-6)
    gen = torch.Generator().manual_seed(1)  # Monte Carlo chain, 40k runs, 6 steps, from x0 = 1
    x = torch.ones(40000, 1)
    for t in range(1, 7):
        x = (torch.rand(x.shape, generator=gen) < m.forward_prob(x, torch.full((40000,), t))).float()
    expect = m.marginal(torch.ones(1, 1), torch.tensor([6])).item()
    assert x.mean().item() == pytest.approx(expect, abs=4 * math.sqrt(expect * (1 - expect) / 40000))


def test_binomial_posterior_is_bayes_rule():
    T, p = 6, 0.2
    m = binomial_model(T=T, d=1, p=p)
    for t in range(2, T + 1):
        for x0 in (0.0, 1.0):
            for xt in (0.0, 1.0):
                prev1 = (T - t + 1) / T * x0 + (t - 1) / T * p
                beta = 1 / (T - t + 1)
                up = {1.0: 1 - beta + p * beta, 0.0: p * beta}
                lik = {s: up[s] if xt else 1 - up[s] for s in (0.0, 1.0)}
                expect = lik[1.0] * prev1 / (lik[1.0] * prev1 + lik[0.0] * (1 - prev1))
                got = m.posterior(torch.tensor([[x0]]), torch.tensor([[xt]]), torch.tensor([t])).item()
                assert got == pytest.approx(expect, abs=1e-6)


def test_gaussian_posterior_is_product_of_gaussians():
    m = gaussian_model(T=7, d=1, beta1=0.05)
    c = m.coefs()
    beta, abar = c["beta"], c["abar"]
    for t in range(2, 8):
        x0, xt = torch.tensor([[0.7]]), torch.tensor([[-0.4]])
        mu, var = m.posterior(x0, xt, torch.tensor([t]))
        prec = 1 / (1 - abar[t - 2]) + (1 - beta[t - 1]) / beta[t - 1]
        mean = (
            math.sqrt(abar[t - 2]) * 0.7 / (1 - abar[t - 2]) - 0.4 * math.sqrt(1 - beta[t - 1]) / beta[t - 1]
        ) / prec
        assert var.item() == pytest.approx(1 / prec.item(), rel=1e-5)
        assert mu.item() == pytest.approx(mean.item(), rel=1e-5, abs=1e-6)


def test_schedule_fixed_and_learned():
    s = Schedule(5, 0.01, learned=False)
    assert torch.allclose(s.betas(), torch.tensor([0.01, 1 / 4, 1 / 3, 1 / 2, 1 - 1e-5], dtype=torch.float64))
    learned = Schedule(5, 0.01, learned=True)
    assert learned.delta.shape == (4,) and torch.allclose(learned.betas(), s.betas())
    with torch.no_grad():
        learned.delta += 1.0
    assert learned.betas()[0].item() == pytest.approx(0.01)  # beta_1 stays fixed
    assert (learned.betas()[1:] > s.betas()[1:]).all()


def test_bumps_are_normalised():
    g = bump_matrix(100, 10)
    assert torch.allclose(g.sum(1), torch.ones(100), atol=1e-6)
    assert g[0].argmax() == 0 and g[-1].argmax() == 9 and g[50].argmax() in (4, 5)


# --- the bound ---------------------------------------------------------------------------------------


def test_edge_terms_gaussian_closed_form():
    m = gaussian_model(T=6, d=3, beta1=0.02)
    c = m.coefs()
    b1, aT = c["beta"][0].item(), c["abar"][-1].item()
    x0 = torch.tensor([[0.5, -1.0, 2.0]])
    ent = 3 * 0.5 * (math.log(1 - aT) - math.log(b1))
    cross = sum(-0.5 * math.log(2 * math.pi) - 0.5 * (aT * v * v + 1 - aT) for v in (0.5, -1.0, 2.0))
    cross += sum(-0.5 * math.log(2 * math.pi) - 0.5 * v * v for v in (0.5, -1.0, 2.0))
    cross -= sum(-0.5 * math.log(2 * math.pi) - 0.5 * ((1 - b1) * v * v + b1) for v in (0.5, -1.0, 2.0))
    assert m.edge_terms(x0).item() == pytest.approx(ent + cross, rel=1e-5)


def test_reverse_equal_forward_on_unit_gaussian_gives_null():
    """K - L_null = 0 when the data are N(0, I) and the reverse kernel is the forward kernel (readout zero)."""
    T, d = 12, 2
    m = gaussian_model(T=T, d=d, beta1=0.03)
    c = m.coefs()
    b, abar = c["beta"], c["abar"]
    # closed form: E over x0 ~ N(0,1) and x_t of the KL sum + edge terms, per dimension
    # edge terms with E x0^2 = 1: entropy difference; the cross-entropy terms equal L_null and cancel it
    total = 0.5 * (math.log(1 - abar[-1]) - math.log(b[0]))
    for t in range(2, T + 1):
        bt, a, ap = b[t - 1].item(), abar[t - 1].item(), abar[t - 2].item()
        vq = bt * (1 - ap) / (1 - a)
        ca, cb = vq * math.sqrt(ap) / (1 - ap), vq * math.sqrt(1 - bt) / bt - math.sqrt(1 - bt)
        # mu_q - mu_p = ca x0 + cb x_t with x_t = sqrt(a) x0 + sqrt(1-a) eps; E x0^2 = 1
        msq = (ca + cb * math.sqrt(a)) ** 2 + cb**2 * (1 - a)
        total -= 0.5 * (math.log(bt / vq) + (vq + msq) / bt - 1)
    assert total == pytest.approx(0.0, abs=1e-9)
    # the code path: x0 in {-1, +1}^d has x0^2 = 1 exactly, so only x_t noise is Monte Carlo
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randint(0, 2, (4000, d), generator=gen).float() * 2 - 1
    torch.manual_seed(0)
    gain = (m.bound(x0) - log_std_normal(x0)) / LN2
    se = gain.std().item() / math.sqrt(len(gain))
    assert abs(gain.mean().item()) < 4 * se and se < 0.03
    with torch.no_grad():  # any other reverse model is below the null on these data
        m.net.readout.bias.normal_(0, 0.5, generator=gen)
    gain = (m.bound(x0) - log_std_normal(x0)) / LN2
    assert gain.mean().item() < -4 * gain.std().item() / math.sqrt(len(gain))


def test_reverse_equal_forward_is_tight_for_any_data():
    """The kernels are reversible w.r.t. pi, so reverse = forward gives p = pi and K(x0) = log pi(x0) for every x0."""
    m = binomial_model(T=30, d=4, p=0.2)
    x0 = torch.tensor([[1.0, 1.0, 0.0, 1.0]]).repeat(3000, 1)  # far from Bernoulli(0.2)
    torch.manual_seed(0)
    gain = (m.bound(x0) - m.log_null(x0)) / LN2
    assert abs(gain.mean().item()) < 4 * gain.std().item() / math.sqrt(len(gain))
    g = gaussian_model(T=12, d=1, beta1=0.03)
    x0 = torch.full((3000, 1), 2.5)
    gain = (g.bound(x0) - log_std_normal(x0)) / LN2
    assert abs(gain.mean().item()) < 4 * gain.std().item() / math.sqrt(len(gain))


def test_binomial_bound_exact_for_small_case():
    """Exact K by enumerating every trajectory of a 1-bit, T=3 chain vs the estimator's mean."""
    T, p = 3, 0.2
    m = binomial_model(T=T, d=1, p=p)
    with torch.no_grad():
        m.net.readout.bias.normal_(0, 1.0, generator=torch.Generator().manual_seed(3))
    x0 = torch.ones(1, 1)

    def fwd(prev, t):
        return m.forward_prob(torch.tensor([[float(prev)]]), torch.tensor([t])).item()

    def rev(xt, t):
        return torch.sigmoid(m.reverse_logits(torch.tensor([[float(xt)]]), torch.tensor([t]))).item()

    def bern(x, q):
        return q if x else 1 - q

    exact = 0.0  # E_q[log p(x_0..T) / q(x_1..T | x0)] with p(x0|x1) = forward kernel (reversible w.r.t. pi)
    for x1 in (0, 1):
        for x2 in (0, 1):
            for x3 in (0, 1):
                qw = bern(x1, fwd(1.0, 1)) * bern(x2, fwd(x1, 2)) * bern(x3, fwd(x2, 3))
                logp = math.log(bern(x3, p)) + math.log(bern(x2, rev(x3, 3))) + math.log(bern(x1, rev(x2, 2)))
                logp += math.log(bern(1, fwd(x1, 1)))
                exact += qw * (logp - math.log(qw))
    torch.manual_seed(0)
    est = m.bound(x0.repeat(20000, 1))
    assert est.mean().item() == pytest.approx(exact, abs=4 * est.std().item() / math.sqrt(20000))


# --- readouts and sampling ---------------------------------------------------------------------------


def test_bump_readout_is_bump_weighted_sum_of_linear_maps():
    from papers.sohl.nets import TimeReadout

    r = TimeReadout(3, 2, T=50, kind="bumps", n_bumps=4, axis="logit")
    with torch.no_grad():
        r.weight.normal_(generator=torch.Generator().manual_seed(0))
        r.bias.normal_(generator=torch.Generator().manual_seed(1))
    h, t = torch.randn(5, 1, 3), torch.tensor([1, 2, 10, 49, 50])
    g = bump_matrix(50, 4, "logit")[t - 1]
    expect = torch.stack([sum(g[b, j] * (h[b, 0] @ r.weight[j] + r.bias[j]) for j in range(4)) for b in range(5)])
    assert torch.allclose(r(h, t)[:, 0], expect, atol=1e-5)
    assert torch.allclose(bump_matrix(50, 4, "logit").sum(1), torch.ones(50), atol=1e-6)


def test_ancestral_sampling_with_forward_kernel_keeps_the_stationary_law():
    torch.manual_seed(0)
    g = gaussian_model(T=10, d=2, beta1=0.05)
    x = g.sample(torch.randn(20000, 2))
    assert x.mean(0).abs().max() < 0.05 and (x.var(0) - 1).abs().max() < 0.05
    b = binomial_model(T=10, d=3, p=0.2)
    bits = b.sample((torch.rand(20000, 3) < 0.2).float())
    assert set(bits.unique().tolist()) <= {0.0, 1.0} and (bits.mean(0) - 0.2).abs().max() < 0.015


def test_inpainting_clamps_known_values_and_denoising_follows_the_observation():
    torch.manual_seed(0)
    g = gaussian_model(T=10, d=4, beta1=0.05)
    known = torch.full((500, 4), 2.0)
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0]).expand(500, 4)
    x = g.sample(torch.randn(500, 4), known=known, mask=mask)
    assert (x[:, [0, 2]] == 2.0).all() and x[:, [1, 3]].mean().abs() < 0.2
    y = torch.full((2000, 4), 3.0)
    den = g.sample(torch.randn(2000, 4), observed=y, obs_var=1.0)
    assert den.mean().item() > 1.0  # pulled toward y = 3 from the N(0, 1) prior
