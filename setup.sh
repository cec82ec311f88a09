#!/usr/bin/env bash
# One-command setup: a project virtualenv (.venv), pinned CPU torch in it, then this project
# with its test extras.
#   bash setup.sh                 # the product and its tests
#   bash setup.sh --with-browser  # also Chromium + CJK fonts for the browser test (apt, needs root)
#   bash setup.sh --with-ocr      # also Tesseract + its Chinese model, to read scanned PDFs (apt, needs root)
#   bash setup.sh --with-ray      # also the optional Ray extra (distributed indexing)
#   PYTHON=/usr/bin/python3 bash setup.sh   # choose the interpreter the virtualenv is made from
#
# Why a virtualenv: Debian/Ubuntu's system Python refuses `pip install` (PEP 668). We never
# use --break-system-packages; inside an already active virtualenv or conda env we install there.
set -euo pipefail
cd "$(dirname "$0")"
BASE_PY=${PYTHON:-python3}
WITH_BROWSER=0; WITH_RAY=0; WITH_OCR=0
for arg in "$@"; do
  case "$arg" in
    --with-browser) WITH_BROWSER=1 ;;
    --with-ocr) WITH_OCR=1 ;;
    --with-ray) WITH_RAY=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (see: bash setup.sh --help)" >&2; exit 2 ;;
  esac
done

if [[ -n "${VIRTUAL_ENV:-}" || -n "${CONDA_PREFIX:-}" ]]; then
  PY=$(command -v python)
  echo "Installing into the active environment: ${VIRTUAL_ENV:-$CONDA_PREFIX}"
else
  if [[ ! -x .venv/bin/python ]]; then
    if ! "$BASE_PY" -m venv .venv 2>/dev/null; then
      rm -rf .venv
      echo "setup.sh: '$BASE_PY -m venv' failed. On Debian/Ubuntu install it with: sudo apt-get install python3-venv" >&2
      exit 2
    fi
  fi
  PY="$PWD/.venv/bin/python"
  echo "Using the project virtualenv: $PWD/.venv"
fi

# torch is pinned by a pip constraint: an unpinned resolve would pull a newer torch with GBs of CUDA packages.
export PIP_CONSTRAINT="$PWD/constraints.txt"
"$PY" -m pip install --disable-pip-version-check -q --upgrade pip
"$PY" -m pip install --disable-pip-version-check -q "torch==2.13.0"
EXTRAS="test"; [[ $WITH_RAY == 1 ]] && EXTRAS="test,ray"
"$PY" -m pip install --disable-pip-version-check -q -e ".[${EXTRAS}]"

# System packages (Debian/Ubuntu, non-interactive): only what is asked for and missing.
APT=()
if [[ $WITH_BROWSER == 1 ]]; then
  if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -i "Noto Sans CJK" >/dev/null; then
    APT+=(chromium chromium-driver fonts-noto-cjk)
  fi
fi
if [[ $WITH_OCR == 1 ]]; then
  if ! command -v tesseract >/dev/null 2>&1 || ! tesseract --list-langs 2>/dev/null | grep -x chi_sim >/dev/null; then
    APT+=(tesseract-ocr tesseract-ocr-chi-sim)
  fi
fi
if [[ ${#APT[@]} -gt 0 ]]; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${APT[@]}" >/dev/null
fi
BIN=$(dirname "$PY")
echo "Setup complete. Activate with:  source $BIN/activate"
echo "Then try:  rag ask \"甘肃省2030年森林覆盖率目标是多少？\"   (or without activating: $BIN/rag ask …)"
