#!/usr/bin/env bash
# The book against the newest release of every dependency, as Colab will meet them.
#
#   bash scripts/check_latest.sh                 # Python 3 of the PATH, venv in _build/latest
#   PYTHON=python3.13 bash scripts/check_latest.sh
#
# 1. A fresh virtual environment without constraints.txt: pip takes the newest release of
#    every dependency in pyproject.toml ("dev" extra). torch is the newest CPU build from
#    PyTorch's CPU index where that index can be reached (GitHub's runners); where it cannot
#    (this project's machines), the CPU build that constraints.txt pins, since a plain
#    `pip install torch` would download a CUDA build of several GB.
# 2. The unit tests and every chapter in fast mode (the README's test command, without
#    the constraints).
# 3. The versions it used and the outcome, written by scripts/tested_with.py to
#    book/_tested_with.md (the "Tested with" table of book/how_to_use.md) and printed.
#
# What breaks here is fixed in the package, not pinned away, unless a release is broken
# upstream: then pin it out in pyproject.toml with a comment naming the upstream issue.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-_build/latest}
CPU_INDEX=https://download.pytorch.org/whl/cpu

rm -rf "$VENV" && "$PY" -m venv "$VENV" || exit 2
pip=("$VENV/bin/python" -m pip install -q)
if curl -s --max-time 10 -o /dev/null "$CPU_INDEX/torch/"; then
  torch_from="the newest CPU build ($CPU_INDEX)"
  "${pip[@]}" --index-url "$CPU_INDEX" torch || exit 2
else
  pin=$(grep -E '^torch==' constraints.txt)
  torch_from="$pin of constraints.txt ($CPU_INDEX cannot be reached from here)"
  "${pip[@]}" "$pin" || exit 2
fi
# keep that torch; everything else at its newest release
"$VENV/bin/python" -c 'import torch; print(f"torch=={torch.__version__}")' \
  >"$VENV/keep-torch.txt" || exit 2
"${pip[@]}" -c "$VENV/keep-torch.txt" -e ".[dev]" || exit 2
echo "torch: $torch_from"

DIFFLAB_FAST=1 "$VENV/bin/python" -m pytest -q \
  --junitxml="$VENV/results.xml" "$@"
status=$?
"$VENV/bin/python" scripts/tested_with.py --results "$VENV/results.xml" \
  --torch-from "$torch_from" --out book/_tested_with.md
exit $status
