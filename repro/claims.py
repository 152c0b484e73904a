"""Papers' claims (`papers/<id>/claims.yaml`) and the verdict rules written beside them before any run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from repro.registry import PROJECT_ROOT

RULES = ("within", "beyond", "at_most", "at_least", "none")
VERDICTS = ("reproduced", "not reproduced", "not comparable", "smoke")

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

    def matches(self, row: dict[str, Any]) -> bool:
        """A measured row matches when dataset and metric equal and the row's setting contains the claim's pairs."""
        if row["metric"] != self.metric or row["dataset"] not in self.dataset.split("/"):
            return False
        pairs = dict(kv.split("=", 1) for kv in row["setting"].split(";") if kv)
        return all(pairs.get(k) == str(v) for k, v in self.setting.items())

    def verdict(self, value: float, tier: str, synthetic: bool) -> tuple[str, bool, str]:
        """(verdict, comparable, reason) for a measured value."""
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
    def source_text(self) -> str:
        return f"{self.source} ({self.confidence})"


def claims_path(paper: str) -> Path:
    return PROJECT_ROOT / "papers" / paper / "claims.yaml"


def load(paper: str) -> list[Claim]:
    path = claims_path(paper)
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
        claims.append(
            Claim(
                paper=paper, rule=verdict["rule"], tol=float(verdict.get("tol", 0.0)), tiers=tuple(c.pop("tiers")), **c
            )
        )
    ids = [c.id for c in claims]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: duplicate claim ids")
    return claims
