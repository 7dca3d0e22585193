#!/usr/bin/env bash
# Prints the module import map of src/ (which top-level module names which),
# its circles, and the arrows that run against the layer order declared in
# docs/architecture.md. The same analysis is the test
# layers_import_map_points_one_way, which the suite runs and which fails on
# a new circle or back-arrow.
#
#   bash scripts/layers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --quiet --test it layers_print_import_map -- --nocapture --test-threads 1
