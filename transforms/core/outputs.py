"""Pieces every stage shares: output tags, the stage result shape, dead-letter construction."""

from typing import NamedTuple

from apache_beam.pvalue import PCollection

from transforms.core.records import DeadLetter, FilteredItem
from transforms.core.textutil import collapse_ws
from transforms.core.timeutil import utc_now_iso

FILTERED = "filtered"
DEAD = "dead_letters"
MAX_MESSAGE = 2000


class StageOutputs(NamedTuple):
    """The three outputs every stage has: what goes on, what was filtered, what failed."""

    main: PCollection
    filtered: PCollection
    dead_letters: PCollection


def dead_letter(stage: str, url: str, outlet_id: str, error_type: str, message: str) -> DeadLetter:
    """Build a dead letter stamped with the current time."""
    return DeadLetter(
        stage=stage,
        url=url,
        outlet_id=outlet_id,
        error_type=error_type,
        error_message=collapse_ws(message)[:MAX_MESSAGE],
        failed_at=utc_now_iso(),
    )


def unexpected(stage: str, url: str, outlet_id: str, exc: BaseException) -> DeadLetter:
    """Turn an unexpected exception into a dead letter naming its type."""
    return dead_letter(stage, url, outlet_id, f"unexpected:{type(exc).__name__}", str(exc))


def filtered(stage: str, url: str, outlet_id: str, reason: str, detail: str) -> FilteredItem:
    """Build a filtered-item record stamped with the current time."""
    return FilteredItem(
        stage=stage,
        url=url,
        outlet_id=outlet_id,
        reason=reason,
        detail=collapse_ws(detail)[:MAX_MESSAGE],
        filtered_at=utc_now_iso(),
    )
