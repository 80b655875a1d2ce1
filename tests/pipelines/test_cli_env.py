"""The CLI's process settings: at most two glibc malloc arenas unless the user chose otherwise."""

import os
import subprocess
import sys

CODE = (
    "import os; from pipelines.cli import limit_malloc_arenas as f; f(); "
    "print(os.environ['MALLOC_ARENA_MAX'])"
)


def _run(env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_sets_two_arenas_when_unset() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert _run(env) == "2"


def test_keeps_the_users_value() -> None:
    assert _run({**os.environ, "MALLOC_ARENA_MAX": "6"}) == "6"
