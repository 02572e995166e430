#!/usr/bin/env bash
# The import package as the wheel lays it out, as links: `secondself` lives in daemon/ and
# `secondself.hw` in hw/, a mapping that mypy and import-linter cannot follow. Rebuilt each
# run, so new modules are always included. Prints the folder to put on the path.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=build/link-tree
rm -rf "$tree"
mkdir -p "$tree/secondself"
for entry in daemon/*; do
  ln -s "$PWD/$entry" "$tree/secondself/"
done
ln -s "$PWD/hw" "$tree/secondself/hw"
echo "$PWD/$tree"
