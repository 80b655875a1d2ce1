"""Language tags: the primary subtag of a BCP 47 / POSIX tag, and the 'undetermined' code."""

from typing import Optional

# ISO 639-2 code for "undetermined": no detector was confident, or there was no text.
UNDETERMINED = "und"


def primary_subtag(code: Optional[str]) -> Optional[str]:
    """Reduce a language tag (``zh-cn``, ``en_US``) to its lowercase primary subtag."""
    if not code:
        return None
    head = code.strip().lower().replace("_", "-").split("-")[0]
    return head if 2 <= len(head) <= 3 and head.isalpha() else None
