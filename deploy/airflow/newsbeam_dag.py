"""Airflow DAGs for the newsbeam batch job (BeamRunPythonPipelineOperator).

``newsbeam_daily``: once a day on Dataflow, one run per logical date (run_id and as_of from it),
workers on the Flex Template image (every dependency preinstalled). ``newsbeam_local``: the same
job on the Airflow worker itself with FnApiRunner, triggered by hand (a smoke test, or a small
installation without GCP). Settings are DAG params, overridable per trigger.
Needs the ``airflow`` extra (see pyproject.toml) in the Airflow environment.
"""

import datetime as dt
from typing import Any

from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator
from airflow.providers.google.cloud.operators.dataflow import DataflowConfiguration

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

# Where the Airflow workers have a checkout (or an installed copy) of this repository.
PY_FILE = "/opt/newsbeam/pipelines/ingest.py"

DEFAULT_PARAMS: dict[str, Any] = {
    "project": "my-project",
    "region": "europe-west1",
    "bucket": "my-newsbeam-bucket",
    "image": "europe-west1-docker.pkg.dev/my-project/newsbeam/ingest:latest",
    "service_account": "newsbeam-worker@my-project.iam.gserviceaccount.com",
}

# One run per logical date: re-running a day rewrites that day's files (same run_id) instead of
# adding a second copy, and the dedup/incremental windows count back from that day.
RUN_OPTIONS: dict[str, Any] = {
    "run_id": "{{ ds_nodash }}",
    "as_of": "{{ ds }}",
}

DEFAULT_ARGS: dict[str, Any] = {
    "retries": 1,
    "retry_delay": dt.timedelta(minutes=15),
}

with DAG(
    dag_id="newsbeam_daily",
    description="newsbeam batch ingestion on Dataflow, once a day",
    schedule="0 5 * * *",
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,  # incremental state is read and written by one run at a time
    default_args=DEFAULT_ARGS,
    params=DEFAULT_PARAMS,
    tags=["newsbeam"],
) as daily:
    BeamRunPythonPipelineOperator(
        task_id="ingest_dataflow",
        runner="DataflowRunner",
        py_file=PY_FILE,
        pipeline_options={
            "outlets": "gs://{{ params.bucket }}/config/outlets.yaml",
            "output": "gs://{{ params.bucket }}/newsbeam",
            "config": "gs://{{ params.bucket }}/config/newsbeam.yaml",
            "incremental": True,
            **RUN_OPTIONS,
            "temp_location": "gs://{{ params.bucket }}/tmp",
            "sdk_container_image": "{{ params.image }}",
            "service_account_email": "{{ params.service_account }}",
            "max_num_workers": 4,
        },
        dataflow_config=DataflowConfiguration(
            job_name="newsbeam-{{ ds_nodash }}",
            project_id="{{ params.project }}",
            location="{{ params.region }}",
            wait_until_finished=True,
        ),
    )

with DAG(
    dag_id="newsbeam_local",
    description="newsbeam batch ingestion on the Airflow worker (FnApiRunner), by hand",
    schedule=None,
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    catchup=False,
    params={"outlets": "/opt/newsbeam/seeds/outlets.yaml", "output": "/data/newsbeam"},
    tags=["newsbeam"],
) as local:
    BeamRunPythonPipelineOperator(
        task_id="ingest_local",
        # Chosen explicitly: DirectRunner may download Prism and switch engines (STYLE.md).
        runner="FnApiRunner",
        py_file=PY_FILE,
        pipeline_options={
            "outlets": "{{ params.outlets }}",
            "output": "{{ params.output }}",
            **RUN_OPTIONS,
        },
    )
