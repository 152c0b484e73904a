"""Pre-registration log: a rule changed after a claim's first committed result is listed, from git history."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from repro.report.data import load_claims
from repro.report.preregistration import preregistration, rule_text

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

HEADER = "paper,experiment,claim_id,value\n"


def _git(repo: Path, *args: str) -> str:
    who = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env = {**os.environ, **who}
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env)
    return done.stdout.strip()


def _claims(tol_a: float, value_b: float) -> str:
    def claim(cid: str, value: float, tol: float) -> dict:
        return {
            "id": cid,
            "experiment": "toy",
            "dataset": "toy",
            "metric": cid,
            "value": value,
            "unit": "",
            "source": "Table 1",
            "confidence": "paper text",
            "protocol": "p",
            "tiers": ["cpu"],
            "verdict": {"rule": "within", "tol": tol},
        }

    claims = [claim("toy.a", 1.0, tol_a), claim("toy.b", value_b, 0.1), claim("toy.c", 3.0, 0.1)]
    return yaml.safe_dump({"claims": claims}, sort_keys=False)


def _commit(repo: Path, message: str) -> str:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def test_a_rule_changed_after_the_first_result_is_listed(tmp_path):
    repo = tmp_path / "repo"
    (repo / "papers" / "toy").mkdir(parents=True)
    (repo / "results").mkdir()
    _git(repo, "init", "-q")
    claims_file, results_file = repo / "papers/toy/claims.yaml", repo / "results/toy_toy.csv"
    claims_file.write_text(_claims(tol_a=0.1, value_b=2.0))
    # toy.b has a row but no measured value yet: its rule may still change freely
    results_file.write_text(HEADER + "toy,toy,toy.a,1.05\ntoy,toy,toy.b,\n")
    first = _commit(repo, "first results")
    claims_file.write_text(_claims(tol_a=0.5, value_b=2.5))  # toy.a loosened after its result; toy.b before
    _commit(repo, "rules changed")
    results_file.write_text(HEADER + "toy,toy,toy.a,1.05\ntoy,toy,toy.b,2.4\n")
    _commit(repo, "toy.b measured")

    log = preregistration(repo / "results", repo / "papers", load_claims(repo / "papers"))
    assert log.available and log.checked == 2
    assert [(c.claim_id, c.commit) for c in log.changes] == [("toy.a", first)]
    change = log.changes[0]
    assert rule_text(change.then) == "within 0.1 of 1.0 on toy.a (tiers cpu)"
    assert rule_text(change.now) == "within 0.5 of 1.0 on toy.a (tiers cpu)"


def test_a_claim_judged_on_another_metric_after_its_first_result_is_listed(tmp_path):
    """The same value, tol and rule on another metric (e.g. FID replaced by IS) is a changed rule."""
    repo = tmp_path / "repo"
    (repo / "papers" / "toy").mkdir(parents=True)
    (repo / "results").mkdir()
    _git(repo, "init", "-q")
    claims_file = repo / "papers/toy/claims.yaml"
    claims_file.write_text(_claims(tol_a=0.1, value_b=2.0))
    (repo / "results/toy_toy.csv").write_text(HEADER + "toy,toy,toy.a,1.05\n")
    first = _commit(repo, "first result")
    doc = yaml.safe_load(claims_file.read_text())
    doc["claims"][0]["metric"] = "is_lenet"
    claims_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    _commit(repo, "metric changed")

    log = preregistration(repo / "results", repo / "papers", load_claims(repo / "papers"))
    assert [(c.claim_id, c.commit) for c in log.changes] == [("toy.a", first)]
    assert rule_text(log.changes[0].now) == "within 0.1 of 1.0 on is_lenet (tiers cpu)"


def test_no_checkout_says_so(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "papers").mkdir()
    log = preregistration(tmp_path / "results", tmp_path / "papers", {})
    assert not log.available and "not in a git checkout" in log.note
