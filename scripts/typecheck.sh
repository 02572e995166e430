#!/usr/bin/env bash
# mypy (strict) on the installed package names. The import package `secondself` lives in
# daemon/ and `secondself.hw` in hw/, a mapping mypy cannot follow, so check a link tree
# laid out as the wheel is (rebuilt each run, so new modules are always included).
set -euo pipefail
cd "$(dirname "$0")/.."
tree=build/typecheck
rm -rf "$tree"
mkdir -p "$tree/secondself"
for entry in daemon/*; do
  ln -s "$PWD/$entry" "$tree/secondself/"
done
ln -s "$PWD/hw" "$tree/secondself/hw"
MYPYPATH="$tree" exec .venv/bin/mypy -p secondself "$@"
