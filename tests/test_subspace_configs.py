"""Subspace configs validate at every tier, bad values are rejected, and claims point at registered experiments."""

from __future__ import annotations

import copy

import pytest
import yaml

from repro import claims, config, registry, typed


def test_every_tier_validates() -> None:
    found = {t: set(config.load_tier("subspace", t)) for t in config.TIERS}
    assert found == {
        "smoke": {"gauss", "mnist", "cifar10", "cifar10deep", "cifar10ddpmppdeep"},
        "cpu": {"gauss", "mnist"},
        "paper": {"cifar10", "cifar10deep", "cifar10ddpmppdeep"},
    }


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("gauss", "n_steps"), 0),
        (("gauss", "orth_std"), -0.1),
        (("gauss", "levels"), [3]),
        (("mnist", "thresholds"), [0.0]),
        (("mnist", "fixed_cut_times"), [1.5]),
        (("cifar10", "full_model"), {"checkpoint": "x.pth"}),
        (("cifar10", "subspace_models"), {"4x4": {"config": {}}}),
    ],
)
def test_bad_values_are_rejected(tmp_path, path, value) -> None:
    data = copy.deepcopy(config.load_tier("subspace", "smoke"))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    bad = tmp_path / "smoke.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(config.ConfigError, match=path[0]):
        config.load_tier("subspace", "smoke", bad)


def test_claims_point_at_registered_experiments() -> None:
    known = {e.name for e in registry.experiments(("subspace",)).values()}
    loaded = claims.load("subspace")
    assert loaded and all(c.experiment in known for c in loaded)
    ids = [c.id for c in loaded]
    assert len(ids) == len(set(ids))
    # the paper's cut-off times and Table 1 constants are stated as claims, never in code
    assert {c.id for c in loaded if c.metric == "cut_time"} == {
        "sub.cut.ncsnpp.16",
        "sub.cut.ncsnpp.8",
        "sub.cut.ncsnpp_deep.16",
        "sub.cut.ncsnpp_deep.8",
        "sub.cut.ddpmpp_deep.16",
        "sub.cut.ddpmpp_deep.8",
    }


def test_official_subspace_checkpoint_path_loads_strictly(official_fixtures, tmp_path) -> None:
    """A 16×16 subspace model configured with a score_sde-format checkpoint loads through the paper-tier code path
    and reproduces the official forward pass (the tiny official NCSN++ fixture is a 16×16 model)."""
    import json

    import torch

    from papers.subspace import cifar10
    from repro.run import Run

    meta = json.loads((official_fixtures / "ncsnpp_tiny.json").read_text())
    arch = {k: v for k, v in meta["architecture_config"].items() if k not in ("image_size", "data.image_size")}
    smoke = config.load("subspace", "cifar10", "smoke")

    def run_with(checkpoint: str) -> Run:
        models = {
            "full_model": {"config": arch},
            "subspace_models": {"16x16": {"config": arch, "checkpoint": checkpoint}},
        }
        cfg = typed.build(cifar10.Config, {**smoke, "levels": [1], **models}, "test")
        return Run("subspace", "cifar10", "paper", cfg, runs_root=tmp_path, data_root=official_fixtures)

    run = run_with("ncsnpp_tiny_trained5.pt")
    model = cifar10._load(run, 1)
    io = torch.load(official_fixtures / "ncsnpp_tiny_trained5_io.pt", weights_only=True)
    with torch.no_grad():
        out = model(io["x"].to(run.device), io["sigmas"].to(run.device)).cpu()
    torch.testing.assert_close(out, io["output_ema_weights"], rtol=1e-4, atol=1e-4 * float(out.abs().max()))
    run_missing = run_with("absent.pth")
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        cifar10._load(run_missing, 1)
