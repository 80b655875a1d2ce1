"""deploy/airflow/newsbeam_dag.py imports under Airflow, and its tasks run the real ingest CLI.

Airflow lives in its own virtualenv (.venv-airflow, `make airflow-check`, part of `make test`):
its pins conflict with the project's test tools. In the main venv this module is skipped.
"""

import importlib.util

import pytest

from tests.conftest import ROOT

pytest.importorskip(
    "airflow.providers.apache.beam",
    reason="Airflow is not in this venv: `make airflow-check` runs this in .venv-airflow",
)
from airflow.providers.apache.beam.hooks.beam import beam_options_to_args
from airflow.providers.apache.beam.operators.beam import (
    BeamRunPythonPipelineOperator,
)

DAG_FILE = ROOT / "deploy" / "airflow" / "newsbeam_dag.py"
# What the templates render to for the logical date 2026-11-25 and the default params.
RENDERED = {
    "{{ ds_nodash }}": "20261125",
    "{{ ds }}": "2026-11-25",
    "{{ params.bucket }}": "bucket",
    "{{ params.outlets }}": "/opt/newsbeam/seeds/outlets.yaml",
    "{{ params.output }}": "/data/newsbeam",
}


@pytest.fixture(scope="module")
def dag_module():
    spec = importlib.util.spec_from_file_location("newsbeam_dag", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(value):
    for template, text in RENDERED.items():
        value = value.replace(template, text) if isinstance(value, str) else value
    return value


def test_dags_and_tasks(dag_module):
    daily, local = dag_module.daily, dag_module.local
    assert (daily.dag_id, local.dag_id) == ("newsbeam_daily", "newsbeam_local")
    assert [t.task_id for t in daily.tasks] == ["ingest_dataflow"]
    assert [t.task_id for t in local.tasks] == ["ingest_local"]
    assert daily.max_active_runs == 1
    dataflow = daily.get_task("ingest_dataflow")
    assert isinstance(dataflow, BeamRunPythonPipelineOperator)
    assert dataflow.runner == "DataflowRunner"
    assert dataflow.dataflow_config.job_name == "newsbeam-{{ ds_nodash }}"
    assert dataflow.dataflow_config.project_id == "{{ params.project }}"
    assert dataflow.dataflow_config.wait_until_finished is True
    assert "pipeline_options" in dataflow.template_fields
    assert local.get_task("ingest_local").runner == "FnApiRunner"
    assert dataflow.py_file.endswith("pipelines/ingest.py")


@pytest.mark.parametrize("task", ["ingest_dataflow", "ingest_local"])
def test_task_options_parse_as_newsbeam_ingest_arguments(dag_module, task):
    from pipelines import ingest_job

    dag = dag_module.daily if task == "ingest_dataflow" else dag_module.local
    operator = dag.get_task(task)
    options = {key: render(value) for key, value in operator.pipeline_options.items()}
    # The hook turns the dict into flags exactly like this (True -> bare switch).
    args, beam_args = ingest_job.parse_args(beam_options_to_args(options))
    assert args.run_id == "20261125"
    assert str(args.as_of) == "2026-11-25"
    ours = set(vars(args))
    passed_to_beam = {a.split("=")[0].lstrip("-") for a in beam_args}
    # Every key is either one of ours or a real Beam pipeline option, nothing misspelt.
    from apache_beam.options.pipeline_options import PipelineOptions

    beam_known = set(PipelineOptions(beam_args).get_all_options(retain_unknown_options=False))
    assert passed_to_beam <= beam_known, passed_to_beam - beam_known
    assert set(options) <= ours | beam_known
