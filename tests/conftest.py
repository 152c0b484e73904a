from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "official"


@pytest.fixture
def official_fixtures() -> Path:
    if not FIXTURES.exists():
        pytest.skip(f"official fixtures folder {FIXTURES} is absent (it is always present in CI)")
    return FIXTURES
