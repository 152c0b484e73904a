"""DLG configs validate and build their typed configs at every tier, bad values are rejected, and claims point at
registered experiments."""

import copy
import functools
import operator
import subprocess
import sys

import pytest

from repro import claims, config, registry, typed
from repro.train import TrainConfig


def test_every_tier_validates():
    found = {t: set(config.load_tier("dlg", t)) for t in config.TIERS}
    assert found["smoke"] == {"gmm", "mnist", "cifar10", "celebahq"}
    assert {"gmm", "mnist"} <= found["cpu"]
    assert {"cifar10", "celebahq"} <= found["paper"]


@pytest.mark.parametrize("tier", config.TIERS)
def test_every_config_builds_its_dataclass_and_training_sections(tier):
    for name, data in config.load_tier("dlg", tier).items():
        cfg = typed.build(registry.get(f"dlg/{name}").config_class(), data, f"{tier}: {name}")
        sections = [cfg.classifier.training]
        if name == "mnist":
            sections.append(cfg.score_net.training)
        if name in ("cifar10", "celebahq") and cfg.score_model.kind == "tiny":
            sections.append(cfg.score_model.training)
        for section in sections:
            assert TrainConfig.from_config(section, name).steps == section["steps"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("gmm", "dlg", "eta"), -0.5),
        (("gmm", "budgets"), [0]),
        (("mnist", "sigma_max"), 0.0),
        (("cifar10", "points"), [{"integrator": "rk45", "dlg": True, "budget": 10}]),
        (("mnist", "score_net", "training", "hidden"), 64),  # a model key does not belong in a training section
        (("gmm", "classifier", "training"), {"steps": 5}),
    ],
)
def test_bad_values_are_rejected(tmp_path, path, value):
    import yaml

    data = copy.deepcopy(config.load_tier("dlg", "smoke"))
    functools.reduce(operator.getitem, path[:-1], data)[path[-1]] = value
    bad = tmp_path / "smoke.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(config.ConfigError, match=path[0]):
        config.load_tier("dlg", "smoke", bad)


def test_claims_name_registered_experiments_and_quoted_settings():
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, papers.dlg as p; print('torch' in sys.modules);print(' '.join(e.name for e in p.EXPERIMENTS))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    torch_loaded, names = out.stdout.split("\n")[:2]
    assert torch_loaded == "False"
    for c in claims.load("dlg"):
        assert c.experiment in names.split()
        assert c.setting.get("dlg") in (None, "on", "off", "oracle", "mlp")  # YAML on/off must stay strings


def test_celebahq_paper_model_is_the_released_architecture():
    """The score_sde CelebA-HQ-256 release loads strictly only into its own architecture (2000 sigma levels)."""
    from repro.nets.ncsnpp import celebahq_256_ve_continuous_config, config_from_dict

    model = config.load_tier("dlg", "paper")["celebahq"]["score_model"]["config"]
    assert config_from_dict(model) == celebahq_256_ve_continuous_config()
