"""Papers' claims (`papers/<id>/claims.yaml`) and the verdict rules written beside them before any run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from repro.registry import PROJECT_ROOT

RULES = ("within", "beyond", "at_most", "at_least", "none")
VERDICTS = ("reproduced", "not reproduced", "not comparable", "smoke", "rehearsal")
REHEARSAL_REASON = "paper rehearsal: the paper configuration cut to a handful of steps and samples; proves it runs"
# 'check': a claim that cannot fail when our code is right (an identity, a closed form, a bound by construction);
# `reason` then says why. It is reported as a check, never counted as a reproduction.
KINDS = ("claim", "check")
# 'ours': the claim's `value` is a threshold we chose (to test a qualitative statement), not a number the paper prints.
THRESHOLDS = ("paper", "ours")

CLAIM_SCHEMA = {
    "type": "object",
    "required": ["claims"],
    "additionalProperties": False,
    "properties": {
        "claims": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "id",
                    "experiment",
                    "dataset",
                    "metric",
                    "value",
                    "unit",
                    "source",
                    "confidence",
                    "protocol",
                    "tiers",
                    "verdict",
                ],
                "properties": {
                    "id": {"type": "string"},
                    "experiment": {"type": "string"},
                    "dataset": {
                        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]
                    },
                    "metric": {"type": "string"},
                    "setting": {"type": "object"},
                    "value": {"type": ["number", "string"]},
                    "stderr": {"type": "number"},
                    "unit": {"type": "string"},
                    "source": {"type": "string"},
                    "confidence": {"type": "string"},
                    "protocol": {"type": "string"},
                    "tiers": {"type": "array", "items": {"enum": ["smoke", "cpu", "paper"]}},
                    "verdict": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["rule"],
                        "properties": {"rule": {"enum": list(RULES)}, "tol": {"type": "number", "minimum": 0}},
                    },
                    "reason": {"type": "string"},
                    "kind": {"enum": list(KINDS)},
                    "threshold": {"enum": list(THRESHOLDS)},
                    "over": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True},
                },
            },
        }
    },
}


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    experiment: str
    dataset: str  # one name, or several joined by "/" (e.g. the cpu analogue and the paper's dataset)
    metric: str
    value: float | str
    unit: str
    source: str
    confidence: str
    protocol: str
    tiers: tuple[str, ...]
    rule: str
    tol: float = 0.0
    setting: dict[str, Any] = field(default_factory=dict)
    stderr: float | None = None
    reason: str = ""
    kind: str = "claim"
    threshold: str = "paper"
    # Setting keys along which one claim is measured many times (e.g. every time point `t`); without them a claim
    # must match exactly one measured row.
    over: tuple[str, ...] = ()

    def matches(self, row: dict[str, Any]) -> bool:
        """A measured row matches when dataset and metric equal and the row's setting contains the claim's pairs."""
        if row["metric"] != self.metric or row["dataset"] not in self.dataset.split("/"):
            return False
        pairs = dict(kv.split("=", 1) for kv in row["setting"].split(";") if kv)
        return all(pairs.get(k) == str(v) for k, v in self.setting.items())

    def verdict(self, value: float, tier: str, synthetic: bool, rehearsal: bool = False) -> tuple[str, bool, str]:
        """(verdict, comparable, reason) for a measured value; a rehearsal's is always 'rehearsal'."""
        if rehearsal:
            return "rehearsal", False, REHEARSAL_REASON
        if tier == "smoke" or synthetic:
            return "smoke", False, "smoke tier: tiny sizes or a synthetic stand-in; proves plumbing only"
        if self.rule == "none":
            return "not comparable", False, self.reason or "no comparable protocol"
        if tier not in self.tiers:
            return "not comparable", False, f"the claim is for the {'/'.join(self.tiers)} tier, this is {tier}"
        c = float(self.value)
        ok = {
            "within": abs(value - c) <= self.tol,
            "beyond": abs(value - c) > self.tol,
            "at_most": value <= c + self.tol,
            "at_least": value >= c - self.tol,
        }[self.rule]
        rule = f"{self.rule} {self.tol:g} of {c:g}"
        return ("reproduced", True, "") if ok else ("not reproduced", True, f"{value:.4g} is not {rule}")

    @property
    def rule_text(self) -> str:
        return self.rule if self.rule == "none" else f"{self.rule} {self.tol:g} of {self.value}"

    @property
    def source_text(self) -> str:
        return f"{self.source} ({self.confidence})"


def claims_path(paper: str) -> Path:
    return PROJECT_ROOT / "papers" / paper / "claims.yaml"


def load(paper: str, path: Path | None = None) -> list[Claim]:
    """The claims of `paper` (from `path`, default papers/<paper>/claims.yaml); [] when there is no such file."""
    path = claims_path(paper) if path is None else Path(path)
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text())
    try:
        jsonschema.validate(data, CLAIM_SCHEMA)
    except jsonschema.ValidationError as err:
        where = ".".join(str(p) for p in err.absolute_path)
        raise ValueError(f"{path}: {where}: {err.message}") from err
    claims = []
    for c in data["claims"]:
        verdict = c.pop("verdict")
        if isinstance(c["dataset"], list):
            c["dataset"] = "/".join(c["dataset"])
        c["over"] = tuple(c.get("over", ()))
        claims.append(
            Claim(
                paper=paper, rule=verdict["rule"], tol=float(verdict.get("tol", 0.0)), tiers=tuple(c.pop("tiers")), **c
            )
        )
    ids = [c.id for c in claims]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: duplicate claim ids")
    return claims


def check_one_measurement(claim: Claim, settings: list[str]) -> None:
    """Refuse a claim that matches several rows not told apart by its `over` keys (an ambiguous verdict)."""
    if len(settings) < 2:
        return
    if not claim.over:
        raise ValueError(
            f"claim {claim.id} matches {len(settings)} measured rows ({'; '.join(repr(s) for s in settings)}): "
            "name the arm in its `setting`, or the setting keys it is measured over in `over`"
        )
    keys = [tuple(dict(kv.split("=", 1) for kv in s.split(";") if kv).get(k) for k in claim.over) for s in settings]
    if len(set(keys)) != len(keys) or any(None in k for k in keys):
        raise ValueError(
            f"claim {claim.id} is measured over {list(claim.over)} but its rows do not differ in exactly those keys: "
            + "; ".join(repr(s) for s in settings)
        )


def check_verdict(row: Mapping[str, str], claim: Claim | None, where: str) -> None:
    """Refuse a results row whose stored verdict is not what its value and its claim's rule give.

    A verdict is never trusted: it is recomputed here from the value, the tier and the rule in claims.yaml.
    'smoke' is always accepted for a measured row (a smoke tier or a synthetic stand-in; it never counts), as is
    any verdict but 'reproduced' / 'not reproduced' for a claim that has no value.
    """
    name = row.get("claim_id") or row.get("metric", "")
    if row["value"] == "":
        if row["verdict"] in ("reproduced", "not reproduced"):
            raise ValueError(f"{where}: claim {name!r} has no measured value, yet its verdict is {row['verdict']!r}")
        return
    try:
        value = float(row["value"])
    except ValueError:
        raise ValueError(f"{where}: value {row['value']!r} of {name!r} is not a number") from None
    if row["verdict"] in ("smoke", "rehearsal"):
        return
    if row["tier"] == "smoke":
        raise ValueError(f"{where}: a smoke-tier row must say 'smoke', not {row['verdict']!r}")
    expected = "not comparable" if claim is None else claim.verdict(value, row["tier"], synthetic=False)[0]
    if row["verdict"] != expected:
        rule = "no claim" if claim is None else f"rule '{claim.rule_text}' at the {row['tier']} tier"
        raise ValueError(
            f"{where}: {name!r} says {row['verdict']!r}, but value {value:g} under {rule} gives {expected!r}"
        )
