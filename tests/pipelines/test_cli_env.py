"""The CLI's process settings (glibc malloc arenas and mmap threshold, pyarrow's allocator) unless
the user chose them."""

import os
import subprocess
import sys

CODE = (
    "import os; from pipelines.cli import tune_malloc as f; f(); "
    "print(os.environ['MALLOC_ARENA_MAX'], os.environ['MALLOC_MMAP_THRESHOLD_'])"
)
# pyarrow imported after the settings, as the CLI imports the job after them.
POOL_CODE = (
    "from pipelines.cli import tune_malloc as f; f(); "
    "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
)


def _run(env: dict[str, str], code: str = CODE) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def _unset() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MALLOC_") and k != "ARROW_DEFAULT_MEMORY_POOL"
    }


def test_sets_two_arenas_and_a_fixed_mmap_threshold_when_unset() -> None:
    assert _run(_unset()) == "2 65536"


def test_keeps_the_users_values() -> None:
    assert _run({**_unset(), "MALLOC_ARENA_MAX": "6"}) == "6 65536"
    assert _run({**_unset(), "MALLOC_MMAP_THRESHOLD_": "131072"}) == "2 131072"


def test_pyarrow_allocates_from_the_system_allocator_unless_the_user_chose() -> None:
    assert _run(_unset(), POOL_CODE) == "system"
    assert _run({**_unset(), "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}, POOL_CODE) == "mimalloc"
