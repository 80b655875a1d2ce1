"""Dataflow job graphs, built offline with ``--dry_run``: the DataflowRunner translates the real
pipeline, packages the project from pyproject.toml (``--setup_file``), and stops before the API.

Graph construction itself touches the output: the batch job lists earlier runs' signatures under
``--output`` (transforms/dedup/history.py), which on ``gs://`` is a GCS call that needs
credentials. These tests give a local output so they stay offline, and assert that nothing but
loopback was contacted.
"""

import importlib.util
import json
import re
import shutil
import socket
import sys
import tarfile
from pathlib import Path

import apache_beam as beam
import pytest

from tests.conftest import DEMO, ROOT

pytest.importorskip(
    "apache_beam.runners.dataflow.internal.apiclient",
    reason="needs apache-beam[gcp] (the `dataflow` extra, installed by `make test`)",
)
from apache_beam.portability.api import beam_runner_api_pb2

pytestmark = pytest.mark.slow

BEAM_SDK_IMAGE = f"beam_python3.11_sdk:{beam.__version__}"
HAS_STREAM = importlib.util.find_spec("pipelines.stream") is not None


def dataflow_args(job_name):
    return [
        "--runner=DataflowRunner",
        "--dry_run=True",
        "--project=newsbeam-dry-run",
        "--region=europe-west1",
        "--temp_location=gs://newsbeam-dry-run/tmp",
        f"--setup_file={ROOT / 'pyproject.toml'}",
        f"--job_name={job_name}",
    ]


@pytest.fixture
def no_network(monkeypatch):
    """Fail any connection that leaves the machine; record what was tried."""
    tried = []
    connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in {"127.0.0.1", "::1", "localhost"}:
            tried.append(address)
            raise OSError(f"test is offline: connection to {address!r} refused")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return tried


def build_batch(p, output):
    from pipelines import ingest, ingest_job

    args, _ = ingest_job.parse_args(
        [
            "--outlets",
            str(DEMO / "outlets.yaml"),
            "--output",
            str(output),
            "--run_id",
            "dryrun",
            "--as_of",
            "2026-11-25",
        ]
    )
    ingest.build_pipeline(p, ingest_job.job_from_args(args))


def build_stream(p, output):
    from pipelines import stream  # type: ignore[import-not-found,unused-ignore]

    args, _ = stream.parse_args(
        [
            "--outlets",
            str(DEMO / "outlets.yaml"),
            "--output",
            str(output),
            "--start",
            "2026-11-25T00:00:00Z",
            "--duration_s",
            "3600",
        ]
    )
    stream.build_stream_pipeline(p, stream.job_from_args(args))


CASES = [
    pytest.param(
        build_batch,
        [],
        {"ReadFeeds", "FetchPages", "ExtractArticles", "DetectLanguage", "DedupArticles"}
        | {"WriteArticles", "WriteFiltered", "WriteDeadLetters", "WriteRunSummary"},
        "JOB_TYPE_BATCH",
        id="batch",
    ),
    pytest.param(
        build_stream,
        ["--streaming"],
        {"ReadFeeds", "FetchPages", "ExtractArticles", "DetectLanguage", "DedupAndWrite"},
        "JOB_TYPE_STREAMING",
        id="streaming",
        marks=pytest.mark.skipif(
            not HAS_STREAM,
            reason="pipelines/stream.py is not in this checkout (merge the streaming branch)",
        ),
    ),
]


@pytest.mark.parametrize(("build", "extra_args", "labels", "job_type"), CASES)
def test_dataflow_dry_run_builds_the_job_graph(
    build, extra_args, labels, job_type, tmp_path, no_network
):
    from pipelines.ingest_job import pipeline_options

    options = pipeline_options([*dataflow_args("newsbeam-dry-run"), *extra_args])
    p = beam.Pipeline(options=options)
    build(p, tmp_path / "out")
    result = p.run()

    proto = p.runner.proto_pipeline
    top_level = {
        t.unique_name for t in proto.components.transforms.values() if "/" not in t.unique_name
    }
    # Stable labels: Dataflow matches steps by name when a running job is updated.
    assert labels <= top_level, sorted(top_level)
    assert result.job.proto.type.name == job_type

    (environment,) = proto.components.environments.values()
    image = beam_runner_api_pb2.DockerPayload.FromString(environment.payload).container_image
    assert image.endswith(BEAM_SDK_IMAGE), image
    staged = {
        beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(d.role_payload).staged_name: (
            beam_runner_api_pb2.ArtifactFilePayload.FromString(d.type_payload).path
        )
        for d in environment.dependencies
    }
    # --setup_file=pyproject.toml: Beam built an sdist with `python -m build` and stages it as
    # workflow.tar.gz, which each worker pip-installs (no setup.py needed).
    sdist = Path(staged["workflow.tar.gz"])
    try:
        assert sdist.name == "newsbeam-0.1.0.tar.gz"
        with tarfile.open(sdist) as tar:
            names = set(tar.getnames())
        for member in ("pyproject.toml", "pipelines/ingest.py", "transforms/dedup/articles.py"):
            assert f"newsbeam-0.1.0/{member}" in names
    finally:
        # Beam leaves its staging temp directory behind after a dry run.
        shutil.rmtree(sdist.parent, ignore_errors=True)
    assert no_network == []


# --- Flex Template: deploy/flex/metadata.json and the launcher against the real CLI ---------

FLEX = ROOT / "deploy" / "flex"
# A valid value for every template parameter, and one its regex must refuse.
GOOD = {
    "outlets": "gs://bucket/config/outlets.yaml",
    "warc_input": "gs://bucket/crawl/*.warc.gz",
    "output": "gs://bucket/newsbeam",
    "config": "gs://bucket/config/newsbeam.yaml",
    "run_id": "20261125",
    "as_of": "2026-11-25",
    "incremental": "true",
    "archive_warc": "false",
}
BAD = {
    "outlets": "/local/outlets.yaml",
    "warc_input": "crawl/*.warc.gz",
    "output": "out/",
    "config": "gs://bucket/config/newsbeam.json",
    "run_id": "../etc",
    "as_of": "25.11.2026",
    "incremental": "yes please",
    "archive_warc": "1",
}
# Options the template deliberately leaves out: replay serves recorded HTTP for tests and demos;
# report reads a local output directory (a Dataflow job writes to gs://).
NOT_IN_TEMPLATE = {"replay", "report", "progress"}


def template_parameters():
    return {p["name"]: p for p in json.loads((FLEX / "metadata.json").read_text())["parameters"]}


def test_template_parameters_are_exactly_the_ingest_options():
    from pipelines import ingest_job

    options = set(vars(ingest_job.parse_args(["--output", "x"])[0]))
    assert set(template_parameters()) == options - NOT_IN_TEMPLATE


@pytest.mark.parametrize("name", sorted(GOOD))
def test_each_template_parameter_reaches_ingest_and_its_regex_checks_values(name):
    from deploy.flex.launch import translate
    from pipelines import ingest_job

    param = template_parameters()[name]
    assert all(re.fullmatch(rx, GOOD[name]) for rx in param["regexes"]), param["regexes"]
    assert not all(re.fullmatch(rx, BAD[name]) for rx in param["regexes"]), param["regexes"]
    assert param["helpText"] and param["label"]
    required = [] if name == "output" else ["--output", "gs://bucket/out"]
    args, beam_args = ingest_job.parse_args(translate([*required, f"--{name}={GOOD[name]}"]))
    # Parsed as our option, not passed through to Beam as an unknown flag.
    assert beam_args == ["--runner=DataflowRunner"]
    value = getattr(args, name)
    if name in {"incremental", "archive_warc"}:
        assert value is (GOOD[name] == "true")
    else:
        assert str(value) == GOOD[name]


def test_template_run_id_regex_is_the_pipelines_own():
    from pipelines import ingest_job

    assert template_parameters()["run_id"]["regexes"] == [ingest_job.RUN_ID_RE.pattern]


def test_launcher_switches_and_runner():
    from deploy.flex.launch import translate

    assert translate(["--incremental=false", "--archive_warc=true"]) == [
        "--archive_warc",
        "--runner=DataflowRunner",
    ]
    assert translate(["--runner=FnApiRunner"]) == ["--runner=FnApiRunner"]
    with pytest.raises(ValueError, match="true or false"):
        translate(["--incremental=maybe"])


def test_flex_image_uses_the_installed_beam_and_python():
    dockerfile = (FLEX / "Dockerfile").read_text()
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    # Workers run the SDK in this image: it must be the Beam the job graph was built with.
    assert f"FROM apache/beam_python{py}_sdk:{beam.__version__}\n" in dockerfile
    assert f"python{py.replace('.', '')}-template-launcher-base" in dockerfile
    assert "ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/deploy/flex/launch.py" in dockerfile
    assert (ROOT / "deploy" / "flex" / "launch.py").is_file()
