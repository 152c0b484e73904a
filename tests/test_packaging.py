"""environment.yml and pyproject.toml list the same dependencies; the README shows the commands CI runs."""

import re

import tomllib
import yaml
from conftest import ROOT


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert sorted(pip) == sorted(project)


def test_readme_quick_start_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash install.sh --test" in readme and "bash install.sh --test" in ci
    assert re.search(r"python -m pytest", readme) and "python -m pytest" in ci
    assert "snakemake --cores all" in readme


def test_readme_lists_every_paper_tier_claim_under_its_target():
    """The README's per-target list of what the paper tier addresses follows claims.yaml (no claim left out, none
    under another target)."""
    from repro import claims, registry

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## What the paper tier addresses, per target") :].split("\n## ")[0]
    rows = {m[1]: m[2] for m in re.finditer(r"^\| `results/(\w+)\.csv` \| (.*) \|$", section, re.M)}
    for paper in registry.PAPERS:
        for claim in claims.load(paper):
            if "paper" in claim.tiers:
                target = f"{paper}_{claim.experiment}"
                assert f"`{claim.id}`" in rows.get(target, ""), f"{claim.id} is not listed under {target}"
