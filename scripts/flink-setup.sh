#!/usr/bin/env bash
# Get a Flink distribution and try to get Beam's Flink job server; cache both under .tools/.
#   Flink: Maven Central does not serve flink-dist here, so it is assembled from PyPI: the
#   apache-flink wheel ships bin/ and conf/, the apache-flink-libraries sdist ships lib/
#   (flink-dist and friends). Both downloaded with pip --no-deps (they pin an old apache-beam).
#   Job server: org.apache.beam:beam-runners-flink-<FLINK_MINOR>-job-server:<BEAM_VERSION> from
#   Maven Central via `mvn dependency:copy`; every pair tried and its result is printed. Set
#   FLINK_JOB_SERVER_JAR to a jar you have to skip the download.
# Usage: scripts/flink-setup.sh          (FLINK_VERSION=1.20.3 BEAM_VERSIONS="2.77.0 2.76.0 ...")
set -uo pipefail
cd "$(dirname "$0")/.."
FLINK_VERSION=${FLINK_VERSION:-1.20.3}
FLINK_MINOR=${FLINK_VERSION%.*}
BEAM_VERSIONS=${BEAM_VERSIONS:-"2.77.0 2.76.0 2.75.0 2.74.0 2.73.0 2.72.0"}
TOOLS=.tools
FLINK_HOME="$TOOLS/flink-$FLINK_VERSION"
PIP="${PYTHON:-python3} -m pip"
mkdir -p "$TOOLS/dl"

if [ ! -x "$FLINK_HOME/bin/jobmanager.sh" ]; then
    echo "== Flink $FLINK_VERSION from PyPI (apache-flink + apache-flink-libraries, no deps)"
    $PIP download --quiet --no-deps -d "$TOOLS/dl" "apache-flink==$FLINK_VERSION" \
        "apache-flink-libraries==$FLINK_VERSION" || { echo "pip download failed"; exit 1; }
    rm -rf "$FLINK_HOME" "$TOOLS/unpack" && mkdir -p "$FLINK_HOME" "$TOOLS/unpack"
    "${PYTHON:-python3}" -m zipfile -e "$TOOLS"/dl/apache_flink-"$FLINK_VERSION"-*.whl "$TOOLS/unpack/wheel"
    tar xzf "$TOOLS/dl/apache-flink-libraries-$FLINK_VERSION.tar.gz" -C "$TOOLS/unpack"
    cp -r "$TOOLS/unpack/wheel/pyflink/bin" "$TOOLS/unpack/wheel/pyflink/conf" "$FLINK_HOME/"
    cp -r "$TOOLS/unpack/apache-flink-libraries-$FLINK_VERSION/deps/lib" "$FLINK_HOME/"
    cp "$TOOLS/unpack/apache-flink-libraries-$FLINK_VERSION/deps/bin/"*.jar "$FLINK_HOME/bin/"
    chmod +x "$FLINK_HOME"/bin/*.sh "$FLINK_HOME/bin/flink"
    rm -rf "$TOOLS/unpack"
fi
echo "Flink distribution: $FLINK_HOME ($(ls "$FLINK_HOME/lib" | grep -c jar) jars in lib/)"

JAR_DIR="$TOOLS/jobserver"
mkdir -p "$JAR_DIR"
if [ -n "${FLINK_JOB_SERVER_JAR:-}" ]; then
    echo "Job server: $FLINK_JOB_SERVER_JAR (given)"
    exit 0
fi
found=""
for bv in $BEAM_VERSIONS; do
    artifact="org.apache.beam:beam-runners-flink-$FLINK_MINOR-job-server:$bv"
    if mvn -q -B dependency:copy -Dartifact="$artifact" -DoutputDirectory="$JAR_DIR" \
        >"$JAR_DIR/mvn-$bv.log" 2>&1; then
        echo "  OK    $artifact"
        found="$JAR_DIR/beam-runners-flink-$FLINK_MINOR-job-server-$bv.jar"
        break
    fi
    echo "  FAIL  $artifact: $(grep -m1 -oE '(Could not find artifact [^ ]+|[^ ]+ was not found)' "$JAR_DIR/mvn-$bv.log" || echo 'see '"$JAR_DIR/mvn-$bv.log")"
done
if [ -z "$found" ]; then
    echo "No Beam Flink job server jar for Flink $FLINK_MINOR is served here; the Flink cluster"
    echo "runs (scripts/flink-cluster.sh start) but the Beam job cannot be submitted to it."
    echo "Set FLINK_JOB_SERVER_JAR=/path/to/beam-runners-flink-$FLINK_MINOR-job-server-<ver>.jar."
    exit 3
fi
echo "$found" >"$JAR_DIR/selected"
echo "Job server: $found"
