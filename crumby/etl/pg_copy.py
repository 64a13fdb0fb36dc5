"""PostgreSQL COPY of Arrow rows: binary where every column's type is known, CSV otherwise.

The server parses a CSV row field by field from text; a binary row it takes
nearly as stored. For the visits of ``bench/etl.py``'s million hits (850,000
rows of 45 columns) that is 3.5 s of the server's CPU instead of 5.3, and the
server, not crumby, is what a load into PostgreSQL waits for. pgpq encodes
Arrow into PostgreSQL's binary format (in Rust, column by column), so the
rows go from Arrow to the wire without a Python object per value.

Binary needs each column in exactly the table's type: the columns are cast
to it first. Where one cannot be (a type not mapped here, a value out of the
column's range), the rows go as CSV instead, so that the server judges them
as before and a refused row is still found and set aside by the caller.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

try:  # in crumby[postgres]; an install without it copies CSV, as crumby did before
    from pgpq import ArrowToPostgresBinaryEncoder
except ImportError:  # pragma: no cover
    ArrowToPostgresBinaryEncoder = None

# PostgreSQL's type (format_type, without its modifier) -> the Arrow type pgpq writes for it.
ARROW_OF = {
    "boolean": pa.bool_(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "timestamp without time zone": pa.timestamp("us"),
    "date": pa.date32(),
    "text": pa.string(),
    "character varying": pa.string(),
}


def copy_into(conn: sa.Connection, stage: str, columns: str, rows: pa.Table) -> None:
    """COPY ``rows`` into the columns (``columns``, quoted, in the rows' order) of table ``stage``."""
    cursor = conn.connection.driver_connection.cursor()
    typed = _as_stored(conn, stage, rows) if ArrowToPostgresBinaryEncoder is not None else None
    if typed is None:
        buffer = io.BytesIO()  # an unquoted empty field is NULL, a quoted one is ''
        pacsv.write_csv(rows, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
        with cursor.copy(f"COPY {stage} ({columns}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(buffer.getbuffer())
        return
    encoder = ArrowToPostgresBinaryEncoder(typed.schema)
    with cursor.copy(f"COPY {stage} ({columns}) FROM STDIN (FORMAT binary)") as copy:
        copy.write(encoder.write_header())
        for batch in typed.to_batches():
            copy.write(encoder.write_batch(batch))
        copy.write(encoder.finish())


def _as_stored(conn: sa.Connection, stage: str, rows: pa.Table) -> pa.Table | None:
    """``rows`` cast to the types of ``stage``'s columns, or None where that cannot be done exactly."""
    found = conn.exec_driver_sql(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%(stage)s) AND attnum > 0 AND NOT attisdropped",
        {"stage": stage},
    ).all()
    types = dict(found)
    try:
        return pa.table({name: rows.column(name).cast(ARROW_OF[types[name]]) for name in rows.column_names})
    except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
