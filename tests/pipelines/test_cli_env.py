"""The CLI's process settings: glibc malloc arenas and mmap threshold unless the user chose them."""

import os
import subprocess
import sys

CODE = (
    "import os; from pipelines.cli import tune_malloc as f; f(); "
    "print(os.environ['MALLOC_ARENA_MAX'], os.environ['MALLOC_MMAP_THRESHOLD_'])"
)


def _run(env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def _unset() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}


def test_sets_two_arenas_and_a_fixed_mmap_threshold_when_unset() -> None:
    assert _run(_unset()) == "2 65536"


def test_keeps_the_users_values() -> None:
    assert _run({**_unset(), "MALLOC_ARENA_MAX": "6"}) == "6 65536"
    assert _run({**_unset(), "MALLOC_MMAP_THRESHOLD_": "131072"}) == "2 131072"
