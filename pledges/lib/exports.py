"""CSV files that are safe to open in a spreadsheet."""

import csv
import re
from collections.abc import Iterable, Iterator

# A cell starting with one of these is read as a formula by Excel, LibreOffice and Sheets.
FORMULA_STARTS = "=+-@\t\r"
# Where a reader may start a cell: the start of the value, or after any separator a spreadsheet
# splits on (Excel in much of Europe splits on ";", others on tabs), and past the spaces that
# readers set to trim spaces drop. "Bob;=cmd|…" is one value to us, but two cells to them.
_CELL_STARTING_WITH_FORMULA = re.compile(rf"(^|[,;\t\r\n])([ ]*)(?=[{re.escape(FORMULA_STARTS)}])")


def spreadsheet_safe(value) -> str:
    """The value with a ' before every formula trigger where a cell could start, so that a
    spreadsheet shows it as text."""
    text = "" if value is None else str(value)
    return _CELL_STARTING_WITH_FORMULA.sub(r"\1\2'", text)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The lines of a CSV file, one at a time, for a StreamingHttpResponse."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([spreadsheet_safe(value) for value in row])
