#!/usr/bin/env bash
# The demo on PortableRunner: Beam's Python job service + an external SDK worker pool (separate
# processes on 127.0.0.1), compared row for row with the default runner (FnApiRunner).
# Usage: scripts/portable-demo.sh [OUT_DIR]   (run `make venv` first; `make portable` does both)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
OUT=${1:-out/portable}
JOB_PORT=${JOB_PORT:-18099}
POOL_PORT=${POOL_PORT:-18100}
# The worker pool starts SDK workers as a bare `python` from PATH: it must be the venv's.
export PATH="$PWD/$VENV/bin:$PATH"

rm -rf "$OUT" && mkdir -p "$OUT/logs"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$PY" -m apache_beam.runners.portability.local_job_service_main --port "$JOB_PORT" \
    --staging_dir "$OUT/staging" >"$OUT/logs/job_service.log" 2>&1 &
pids+=($!)
"$PY" -m apache_beam.runners.worker.worker_pool_main --service_port "$POOL_PORT" \
    >"$OUT/logs/worker_pool.log" 2>&1 &
pids+=($!)
for port in "$JOB_PORT" "$POOL_PORT"; do
    for _ in $(seq 1 120); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.5
    done
done

demo=(--outlets seeds/demo/outlets.yaml --replay seeds/demo/recording --run_id demo --as_of 2026-11-25)
t0=$(date +%s.%N)
"$PY" -m pipelines.ingest "${demo[@]}" --output "$OUT/fnapi" --runner FnApiRunner >"$OUT/logs/fnapi.log" 2>&1
t1=$(date +%s.%N)
"$PY" -m pipelines.ingest "${demo[@]}" --output "$OUT/portable" --runner PortableRunner \
    --job_endpoint "localhost:$JOB_PORT" --environment_type EXTERNAL \
    --environment_config "localhost:$POOL_PORT" >"$OUT/logs/portable.log" 2>&1
t2=$(date +%s.%N)
"$PY" -c "print(f'FnApiRunner (in process):              {$t1 - $t0:6.1f} s')"
"$PY" -c "print(f'PortableRunner + external worker pool: {$t2 - $t1:6.1f} s')"
"$PY" scripts/compare_runs.py "$OUT/fnapi" "$OUT/portable"
