"""Turn an uploaded CSV or XLSX file into a table of text cells.

Every cell is read as text (no type guessing: "00123" stays "00123", "None" stays "None") and
stripped; empty cells are "". Spreadsheet row numbers are kept: the header is row 1, so the
first record is row 2, which is what a person sees in Excel.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pandas as pd

from salesops.errors import DomainError

FIRST_DATA_ROW = 2
_ENCODINGS = ("utf-8-sig", "cp1252")


@dataclass
class Table:
    columns: list[str]
    frame: pd.DataFrame  # one str column per header, index = spreadsheet row number

    def __len__(self) -> int:
        return len(self.frame)

    def sample(self, column: str, count: int = 3) -> list[str]:
        values = self.frame[column]
        return [v for v in values[values != ""].head(count)]


def read_table(content: bytes, file_name: str) -> Table:
    """Read ``content`` as XLSX (by extension) or CSV (comma, semicolon, tab or pipe)."""
    if not content:
        raise DomainError("The file is empty.", field="file")
    if file_name.lower().endswith((".xlsx", ".xlsm")):
        frame = _read_xlsx(content)
    elif file_name.lower().endswith((".csv", ".txt", ".tsv")):
        frame = _read_csv(content)
    else:
        raise DomainError("Upload a .csv or .xlsx file.", field="file")
    frame.columns = [str(c).strip() for c in frame.columns]
    columns = list(frame.columns)
    blank = [n for n, c in enumerate(columns, start=1) if not c or c.startswith("Unnamed:")]
    if blank:
        raise DomainError(
            f"Column {blank[0]} of the header row has no name; every column needs one.",
            field="file",
        )
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise DomainError(
            f"The header names these columns more than once: {', '.join(repeated)}.", field="file"
        )
    frame = frame.fillna("").astype(str).apply(lambda s: s.str.strip())
    frame = frame[(frame != "").any(axis=1)]  # fully blank lines are not records
    frame.index = frame.index + FIRST_DATA_ROW
    if frame.empty:
        raise DomainError("The file has a header row but no records.", field="file")
    return Table(columns=columns, frame=frame)


def _read_csv(content: bytes) -> pd.DataFrame:
    for encoding in _ENCODINGS:
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # cp1252 decodes almost anything; this is for completeness
        raise DomainError("The file is not UTF-8 or Windows-1252 text.", field="file")
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
        separator = dialect.delimiter
    except csv.Error:
        separator = ","
    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=separator,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DomainError(f"The file is not a readable CSV: {error}", field="file") from None


def _read_xlsx(content: bytes) -> pd.DataFrame:
    try:
        frame = pd.read_excel(io.BytesIO(content), sheet_name=0, dtype=str, engine="openpyxl")
    except Exception as error:  # openpyxl raises many kinds for a damaged workbook
        raise DomainError(
            f"The file is not a readable XLSX workbook: {error}", field="file"
        ) from None
    # Excel keeps whole numbers as floats: "12.0" → "12"; dates come back as timestamps.
    return frame.map(_excel_text)


def _excel_text(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value)
    if text.endswith(" 00:00:00"):
        return text[: -len(" 00:00:00")]
    if text.endswith(".0") and text[:-2].lstrip("-").isdigit():
        return text[:-2]
    return text
