"""Sanity rows: matched noise has the reference's moments; the ranking check catches a metric that cannot rank."""

import torch

from repro.metrics.sanity import matched_noise, paired_difference, ranking_violations, sanity_rows


def test_matched_noise_has_the_reference_moments_and_range():
    g = torch.Generator().manual_seed(0)
    ref = 0.3 + 0.1 * torch.rand(4000, 1, 4, 4, generator=g)
    noise = matched_noise(ref, 4000, seed=1)
    assert noise.shape == (4000, 1, 4, 4) and noise.dtype == ref.dtype
    assert torch.allclose(noise.mean(0), ref.mean(0), atol=0.003)
    assert noise.min() >= ref.min() and noise.max() <= ref.max()
    assert torch.equal(noise, matched_noise(ref, 4000, seed=1))


def _rows(real, noise, models):
    rows = [{"metric": "fid", "value": str(real), "setting": "sanity=real"}]
    rows += [{"metric": "fid", "value": str(noise), "setting": "sanity=noise"}]
    return rows + [{"metric": "fid", "value": str(v), "setting": f"arm={i}"} for i, v in enumerate(models)]


def test_ranking_holds_either_direction_and_fails_outside():
    assert ranking_violations(_rows(1.0, 100.0, [5.0, 50.0])) == []
    assert ranking_violations(_rows(9.0, 0.5, [5.0, 1.0])) == []  # higher is better: real is the high end
    assert "not between" in ranking_violations(_rows(1.0, 100.0, [0.5]))[0]
    assert "not between" in ranking_violations(_rows(1.0, 100.0, [100.0]))[0]
    assert "exactly one" in ranking_violations(_rows(1.0, 100.0, [5.0])[1:])[0]
    assert ranking_violations([{"metric": "nfe", "value": "10", "setting": ""}]) == []


def test_sanity_rows_score_both_generators_with_every_metric():
    real, noise = torch.zeros(3, 2), torch.ones(5, 2)
    rows = sanity_rows(
        {"m": ("u", lambda x: float(x.sum())), "s": ("u", lambda x: (1.0, 0.5))}, real, noise, dataset="d", seed=0
    )
    got = {(r.setting["sanity"], r.metric): (r.value, r.stderr, r.n_samples) for r in rows}
    assert got == {
        ("real", "m"): (0.0, None, 3),
        ("real", "s"): (1.0, 0.5, 3),
        ("noise", "m"): (10.0, None, 5),
        ("noise", "s"): (1.0, 0.5, 5),
    }


def test_paired_difference_is_the_mean_of_per_seed_differences():
    mean, se = paired_difference([3.0, 5.0, 7.0], [1.0, 2.0, 3.0])
    assert mean == 3.0 and abs(se - 1.0 / 3**0.5) < 1e-12
