"""Pre-registration log from git history: every claim rule changed after the claim's first committed result.

A claim's rule is (value, tol, rule, tiers) and what it is judged on (metric, setting). For each claim with a
measured value in the results CSVs, the first commit whose version of a results CSV holds a measured row of that
claim is found; the rule in that commit's `papers/<paper>/claims.yaml` is compared with today's. Nothing is hidden:
a changed rule is simply listed.
"""

from __future__ import annotations

import csv
import io
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class RuleChange:
    """One claim whose rule today differs from its rule when its first result was committed."""

    claim_id: str
    paper: str
    commit: str
    then: dict[str, Any] | None  # None: the claim was not in claims.yaml at that commit
    now: dict[str, Any]


@dataclass
class Preregistration:
    """What the log found: `available` is False (with `note`) when there is no git history to read."""

    available: bool
    note: str = ""
    checked: int = 0  # claims with a first committed result
    changes: list[RuleChange] = field(default_factory=list)


def rule_of(claim: dict[str, Any]) -> dict[str, Any]:
    """The fields that decide a claim's verdict: value, tol, rule, tiers, and the metric and setting of the row it
    is judged on (a rule kept while its metric changes is still a changed rule)."""
    verdict = claim.get("verdict") or {}
    return {
        "value": claim.get("value"),
        "tol": float(verdict.get("tol", 0.0)),
        "rule": verdict.get("rule"),
        "tiers": list(claim.get("tiers") or []),
        "metric": claim.get("metric"),
        "setting": dict(claim.get("setting") or {}),
    }


def rule_text(rule: dict[str, Any] | None) -> str:
    """A rule as one line: '<rule> <tol> of <value> on <metric> [<setting>] (tiers <tiers>)'."""
    if rule is None:
        return "no such claim"
    tiers = ", ".join(map(str, rule["tiers"])) or "none"
    setting = ", ".join(f"{k}={v}" for k, v in rule["setting"].items())
    on = f"{rule['metric']}" + (f" [{setting}]" if setting else "")
    if rule["rule"] == "none":
        return f"none (value {rule['value']} on {on}, tiers {tiers})"
    return f"{rule['rule']} {rule['tol']:g} of {rule['value']} on {on} (tiers {tiers})"


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def _measured_ids(text: str) -> dict[str, str]:
    """Claim id -> paper for every row of a results CSV text that has a measured value."""
    out: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row.get("claim_id") and (row.get("value") or "").strip():
            out.setdefault(row["claim_id"], row.get("paper", ""))
    return out


def first_results(top: Path, results_rel: str) -> dict[str, tuple[str, str]]:
    """Claim id -> (paper, commit) of the first commit in which a results CSV holds a measured row of it."""
    log = _git(top, "log", "--reverse", "--format=%x00%H", "--name-only", "--", results_rel) or ""
    first: dict[str, tuple[str, str]] = {}
    for entry in log.split("\0")[1:]:
        commit, *files = entry.strip().splitlines()
        for name in (f for f in files if f.endswith(".csv")):
            text = _git(top, "show", f"{commit}:{name}")
            for cid, paper in _measured_ids(text or "").items():
                first.setdefault(cid, (paper, commit))
    return first


def _claims_at(top: Path, commit: str, path_rel: str) -> dict[str, dict[str, Any]]:
    text = _git(top, "show", f"{commit}:{path_rel}")
    try:
        doc = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return {}
    claims = doc.get("claims") if isinstance(doc, dict) else None
    return {str(c["id"]): c for c in claims or [] if isinstance(c, dict) and "id" in c}


def preregistration(results_dir: Path, papers_root: Path, today: dict[str, dict[str, Any]]) -> Preregistration:
    """Compare today's rules (`today`: claim id -> claims.yaml entry) with those at each claim's first result."""
    results_dir, papers_root = Path(results_dir).resolve(), Path(papers_root).resolve()
    where = results_dir if results_dir.is_dir() else results_dir.parent
    top_text = _git(where, "rev-parse", "--show-toplevel")
    if top_text is None:
        return Preregistration(False, f"{results_dir} is not in a git checkout (or git is not installed)")
    top = Path(top_text.strip()).resolve()
    try:
        results_rel = results_dir.relative_to(top).as_posix()
        papers_rel = papers_root.relative_to(top).as_posix()
    except ValueError:
        return Preregistration(False, f"{results_dir} and {papers_root} are not both inside the checkout {top}")
    first = first_results(top, results_rel)
    log = Preregistration(True, checked=len(first))
    cache: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for cid, (paper, commit) in sorted(first.items()):
        if cid not in today:
            continue
        paper = str(today[cid].get("_paper", paper))
        key = (commit, paper)
        if key not in cache:
            cache[key] = _claims_at(top, commit, f"{papers_rel}/{paper}/claims.yaml")
        old = cache[key].get(cid)
        then, now = (rule_of(old) if old is not None else None), rule_of(today[cid])
        if then != now:
            log.changes.append(RuleChange(cid, paper, commit, then, now))
    return log
