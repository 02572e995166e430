#!/usr/bin/env bash
# mypy (strict) on the installed package names, over the link tree laid out as the wheel is.
set -euo pipefail
cd "$(dirname "$0")/.."
tree="$(scripts/link_tree.sh)"
MYPYPATH="$tree" exec .venv/bin/mypy -p secondself "$@"
