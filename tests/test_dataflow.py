"""Dataflow job graphs, built offline with ``--dry_run``: the DataflowRunner translates the real
pipeline, packages the project from pyproject.toml (``--setup_file``), and stops before the API.

Graph construction itself touches the output: the batch job lists earlier runs' signatures under
``--output`` (transforms/dedup_history.py), which on ``gs://`` is a GCS call that needs
credentials. These tests give a local output so they stay offline, and assert that nothing but
loopback was contacted.
"""

import importlib.util
import shutil
import socket
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
    from pipelines import ingest

    args, _ = ingest.parse_args(
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
    ingest.build_pipeline(p, ingest.job_from_args(args))


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
    from pipelines.ingest import pipeline_options

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
        for member in ("pyproject.toml", "pipelines/ingest.py", "transforms/dedup.py"):
            assert f"newsbeam-0.1.0/{member}" in names
    finally:
        # Beam leaves its staging temp directory behind after a dry run.
        shutil.rmtree(sdist.parent, ignore_errors=True)
    assert no_network == []
