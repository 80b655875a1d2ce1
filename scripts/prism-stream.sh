#!/usr/bin/env bash
# Build Prism if missing, then run the streaming pipeline on it against a local server replaying
# tempo-history snapshots (scripts/prism_stream.py). Extra arguments go to prism_stream.py.
# Takes about 2-3 minutes (plus ~4 minutes for the first Prism build). Outside `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .tools/prism/prism ] || scripts/build-prism.sh
exec .venv/bin/python scripts/prism_stream.py \
  --feeds free-cekfakta,free-ekonomi,free-hukum --snapshots 16 --snapshot_every_s 5 \
  --interval_s 5 --window_s 20 --duration_s 90 "$@"
