"""Read numbers back out of a report page (lxml), the way a person reads the page."""

from pathlib import Path

import lxml.html
from lxml.html import HtmlElement


def parse(path: Path) -> HtmlElement:
    """The report's DOM."""
    return lxml.html.fromstring(path.read_bytes())


def number(element: HtmlElement) -> int:
    """An integer as displayed (thousands separators removed)."""
    return int(element.text_content().strip().replace(",", ""))


def card(page: HtmlElement, key: str) -> int:
    """A headline number (the cards at the top)."""
    (element,) = page.xpath(f'//*[@id="totals"]//*[@data-key="{key}"]')
    return number(element)


def column(page: HtmlElement, table_id: str, row_attr: str, col: int) -> dict[str, int]:
    """``{row's data attribute: number in column col}`` of a table."""
    rows = page.xpath(f'//table[@id="{table_id}"]//tr[@{row_attr}]')
    return {row.get(row_attr): number(row.xpath("./td")[col]) for row in rows}
