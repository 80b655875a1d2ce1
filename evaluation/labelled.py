"""Labelled same-story sets: articles with their gold event, from a giveme5w1h-style directory."""

import csv
import json
from pathlib import Path
from typing import NamedTuple, Optional

from transforms.core.timeutil import parse_iso


class LabelledArticle(NamedTuple):
    """An article of an evaluation directory with its gold event."""

    article_id: str
    event_id: str
    title: str
    description: str
    text: str
    language: str
    published_at: Optional[str]


def load_labelled(directory: str) -> list[LabelledArticle]:
    """Read ``index.csv`` and ``data/<file>`` JSON of a giveme5w1h-style directory."""
    root = Path(directory)
    articles = []
    with open(root / "index.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            data = json.loads((root / "data" / row["file"]).read_text(encoding="utf-8"))
            published = data.get("date_publish") or row.get("date_publish")
            parsed = parse_iso(str(published).replace(" ", "T")) if published else None
            articles.append(
                LabelledArticle(
                    article_id=row["file"],
                    event_id=row["event_id"],
                    title=data.get("title") or row.get("title") or "",
                    description=data.get("description") or "",
                    text=data.get("text") or "",
                    language=data.get("language") or "und",
                    published_at=parsed.strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else None,
                )
            )
    return sorted(articles, key=lambda a: a.article_id)
