#!/usr/bin/env bash
# import-linter's contracts (pyproject.toml): imports point one way between the packages.
set -euo pipefail
cd "$(dirname "$0")/.."
tree="$(scripts/link_tree.sh)"
PYTHONPATH="$tree" exec .venv/bin/lint-imports --no-cache "$@"
