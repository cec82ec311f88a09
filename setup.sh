#!/usr/bin/env bash
# One-command setup: pinned CPU torch first, then this project with its test extras.
#   bash setup.sh                 # the product and its tests
#   bash setup.sh --with-browser  # also Chromium + CJK fonts for the browser test (apt, needs root)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

# torch is pinned by a pip constraint: an unpinned resolve would pull a newer torch with GBs of CUDA packages.
export PIP_CONSTRAINT="$PWD/constraints.txt"
"$PY" -m pip install --disable-pip-version-check -q "torch==2.13.0"
"$PY" -m pip install --disable-pip-version-check -q -e ".[test]"

if [[ "${1:-}" == "--with-browser" ]]; then
  if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver fonts-noto-cjk >/dev/null
  fi
fi
echo "Setup complete. Try:  rag ask \"甘肃省2030年森林覆盖率目标是多少？\""
