#!/usr/bin/env bash
# A Flink session cluster on localhost: one JobManager and one TaskManager, separate JVMs.
# Usage: scripts/flink-cluster.sh start|stop|status   (after scripts/flink-setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
FLINK_VERSION=${FLINK_VERSION:-1.20.3}
export FLINK_HOME="$PWD/.tools/flink-$FLINK_VERSION"
export FLINK_LOG_DIR="$PWD/.tools/flink-logs"
export FLINK_PID_DIR="$PWD/.tools/flink-pids"
REST=http://localhost:8081

[ -x "$FLINK_HOME/bin/jobmanager.sh" ] || { echo "run scripts/flink-setup.sh first"; exit 1; }
mkdir -p "$FLINK_LOG_DIR" "$FLINK_PID_DIR"

wait_rest() {
    for _ in $(seq 1 120); do
        if "${PYTHON:-python3}" - "$REST" <<'PY' 2>/dev/null; then return 0; fi
import json, sys, urllib.request
overview = json.load(urllib.request.urlopen(sys.argv[1] + "/overview", timeout=2))
sys.exit(0 if overview["taskmanagers"] >= 1 else 1)
PY
        sleep 1
    done
    echo "Flink did not come up with a TaskManager: see $FLINK_LOG_DIR"; return 1
}

case "${1:-}" in
start)
    # Loopback only, small memory: a 2-core shared machine.
    "$FLINK_HOME/bin/jobmanager.sh" start -D rest.address=localhost -D rest.bind-address=127.0.0.1 \
        -D jobmanager.bind-host=127.0.0.1 -D jobmanager.memory.process.size=1024m
    "$FLINK_HOME/bin/taskmanager.sh" start -D taskmanager.bind-host=127.0.0.1 \
        -D taskmanager.host=localhost -D taskmanager.numberOfTaskSlots=2 \
        -D taskmanager.memory.process.size=1536m
    wait_rest
    echo "Flink $FLINK_VERSION up: $REST ($(pgrep -fc 'org.apache.flink.runtime' || true) JVMs)"
    ;;
stop)
    "$FLINK_HOME/bin/taskmanager.sh" stop || true
    "$FLINK_HOME/bin/jobmanager.sh" stop || true
    ;;
status)
    curl -s "$REST/overview" || { echo "not running"; exit 1; }
    echo
    ;;
*)
    echo "usage: $0 start|stop|status"; exit 2 ;;
esac
