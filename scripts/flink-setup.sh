#!/usr/bin/env bash
# Get a Flink 1.19.3 distribution and build Beam's Flink job server; cache both under .tools/.
#   Flink: Maven Central does not serve flink-dist here, so it is assembled from PyPI: the
#   apache-flink wheel ships bin/ and conf/, the apache-flink-libraries sdist ships lib/
#   (flink-dist and friends). Both downloaded with pip --no-deps (they pin an old apache-beam).
#   Job server: the prebuilt beam-runners-flink-*-job-server jars are not served here, the
#   unshaded runner beam-runners-flink-1.19 is; deploy/flink/pom.xml shades it into one runnable
#   jar. Rebuilt only when the pom changes (the jar's folder is named after the pom's checksum).
# Prints the job server jar's path as its last line (also in .tools/jobserver/selected).
# Usage: scripts/flink-setup.sh        (PYTHON=.venv/bin/python; FLINK_JOB_SERVER_JAR=... skips mvn)
set -euo pipefail
cd "$(dirname "$0")/.."
FLINK_VERSION=${FLINK_VERSION:-1.19.3}
TOOLS=.tools
FLINK_HOME="$TOOLS/flink-$FLINK_VERSION"
PYTHON=${PYTHON:-python3}
mkdir -p "$TOOLS/dl"

if [ ! -x "$FLINK_HOME/bin/jobmanager.sh" ]; then
    echo "== Flink $FLINK_VERSION from PyPI (apache-flink + apache-flink-libraries, no deps)" >&2
    "$PYTHON" -m pip download --quiet --no-deps -d "$TOOLS/dl" "apache-flink==$FLINK_VERSION" \
        "apache-flink-libraries==$FLINK_VERSION" >&2
    rm -rf "$FLINK_HOME" "$TOOLS/unpack" && mkdir -p "$TOOLS/unpack"
    "$PYTHON" -m zipfile -e "$TOOLS"/dl/apache_flink-"$FLINK_VERSION"-*.whl "$TOOLS/unpack/wheel"
    tar xzf "$TOOLS/dl/apache-flink-libraries-$FLINK_VERSION.tar.gz" -C "$TOOLS/unpack"
    mkdir -p "$TOOLS/unpack/flink"
    cp -r "$TOOLS/unpack/wheel/pyflink/bin" "$TOOLS/unpack/wheel/pyflink/conf" "$TOOLS/unpack/flink/"
    cp -r "$TOOLS/unpack/apache-flink-libraries-$FLINK_VERSION/deps/lib" "$TOOLS/unpack/flink/"
    cp "$TOOLS/unpack/apache-flink-libraries-$FLINK_VERSION/deps/bin/"*.jar "$TOOLS/unpack/flink/bin/"
    chmod +x "$TOOLS"/unpack/flink/bin/*.sh "$TOOLS/unpack/flink/bin/flink"
    mv "$TOOLS/unpack/flink" "$FLINK_HOME"   # only a complete distribution gets the name
    rm -rf "$TOOLS/unpack" "$TOOLS"/dl/apache*flink*
fi
echo "Flink distribution: $FLINK_HOME ($(ls "$FLINK_HOME/lib" | grep -c jar) jars in lib/)" >&2

if [ -n "${FLINK_JOB_SERVER_JAR:-}" ]; then
    echo "$FLINK_JOB_SERVER_JAR"
    exit 0
fi
POM=deploy/flink/pom.xml
JAR_DIR="$TOOLS/jobserver/$(cksum <"$POM" | cut -d' ' -f1)"
JAR="$JAR_DIR/job-server.jar"
if [ ! -f "$JAR" ]; then
    echo "== Beam Flink job server from $POM (mvn package, shade)" >&2
    rm -rf "$JAR_DIR" && mkdir -p "$JAR_DIR"
    start=$(date +%s)
    mvn -B -q -f "$POM" package -DbuildDir="$PWD/$JAR_DIR/build" >"$JAR_DIR/mvn.log" 2>&1 ||
        { tail -30 "$JAR_DIR/mvn.log" >&2; echo "job server build failed: $JAR_DIR/mvn.log" >&2; exit 1; }
    cp "$(ls "$JAR_DIR"/build/beam-flink-*-job-server-*.jar | grep -v /original-)" "$JAR.tmp"
    mv "$JAR.tmp" "$JAR" && rm -rf "$JAR_DIR/build"
    echo "built in $(($(date +%s) - start)) s" >&2
fi
echo "$PWD/$JAR" >"$TOOLS/jobserver/selected"
echo "Job server: $JAR ($(du -m "$JAR" | cut -f1) MB)" >&2
echo "$PWD/$JAR"
