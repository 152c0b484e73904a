#!/usr/bin/env bash
# Create .venv and install repro into it.   bash install.sh          (run the workflow)
#                                           bash install.sh --test   (+ pytest, selenium, ruff, Chromium)
# torch: any release >= 2.1 works; the pins below are the builds we test with (set REPRO_TORCH="" to keep yours).
set -euo pipefail
cd "$(dirname "$0")"
TORCH_PINS=${REPRO_TORCH-"torch==2.14.1 torchvision==0.29.1"}
extras=""
if [[ "${1:-}" == "--test" ]]; then
  extras="[test]"
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "install.sh: installing Chromium for the report's browser test (Debian packages chromium, chromium-driver)"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
fi
[[ -d .venv ]] || python3 -m venv .venv
# shellcheck disable=SC2086
.venv/bin/python -m pip install -q $TORCH_PINS -e ".${extras}"
echo "install.sh: done. Activate with: . .venv/bin/activate"
