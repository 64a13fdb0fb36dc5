"""Arrow columns sent to ClickHouse as native blocks, encoded whole with NumPy.

clickhouse-driver takes a column as a list of Python values and encodes it
value by value: for a batch of page views that is most of a load's time on
the client (decoding Arrow's UTF-8 into ``str`` to encode it again, a null
check per value). The native format of the types crumby stores is simple
(a null map, little-endian numbers, length-prefixed bytes), so each column
is written here from Arrow's own buffers in a few array operations; a type
this module does not know is left to the driver's own encoder.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NUMBERS = {
    "UInt8": "<u1",
    "UInt16": "<u2",
    "UInt32": "<u4",
    "UInt64": "<u8",
    "Int8": "<i1",
    "Int16": "<i2",
    "Int32": "<i4",
    "Int64": "<i8",
    "Float32": "<f4",
    "Float64": "<f8",
}
_DATETIME64 = re.compile(r"DateTime64\((\d+)")


def encode(column: pa.ChunkedArray | pa.Array, ch_type: str) -> bytes | None:
    """``column`` in ClickHouse's native format for ``ch_type``; None for a type not handled here."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if ch_type.startswith("Nullable(") and ch_type.endswith(")"):
        inner = _plain(column, ch_type[len("Nullable(") : -1])
        if inner is None:
            return None
        nulls = column.is_null().to_numpy(zero_copy_only=False).astype("u1")
        return nulls.tobytes() + inner
    return _plain(column, ch_type)


def _plain(column: pa.Array, ch_type: str) -> bytes | None:
    """A column of a type that is not Nullable; its nulls written as the type's default value."""
    if ch_type == "String":
        return _strings(column)
    if ch_type in _NUMBERS:
        return _numbers(column, ch_type)
    if ch_type == "Date":
        days = pc.cast(pc.cast(column, pa.date32()), pa.int32())
        return _filled(days).astype("<u2").tobytes()
    if ch_type.startswith("DateTime("):
        return _ticks(column, 1).astype("<u4").tobytes()
    match = _DATETIME64.match(ch_type)
    if match:
        return _ticks(column, 10 ** int(match.group(1))).astype("<i8").tobytes()
    return None


def _numbers(column: pa.Array, ch_type: str) -> bytes:
    if pa.types.is_boolean(column.type):
        column = pc.cast(column, pa.uint8())
    elif not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        column = pc.cast(column, pa.float64() if ch_type.startswith("Float") else pa.int64())
    return _filled(column).astype(_NUMBERS[ch_type]).tobytes()


def _filled(column: pa.Array) -> np.ndarray:
    if column.null_count:
        column = pc.fill_null(column, pa.scalar(0, column.type) if column.type != pa.null() else 0)
    return column.to_numpy(zero_copy_only=False)


def _ticks(column: pa.Array, per_second: int) -> np.ndarray:
    """Times as whole ticks since 1970, rounded down (as the server stores them)."""
    micros = _filled(pc.cast(pc.cast(column, pa.timestamp("us")), pa.int64()))
    return np.floor_divide(micros, 1_000_000 // per_second)


def _strings(column: pa.Array) -> bytes:
    """Each value as its length (LEB128) and its UTF-8 bytes, one after the other."""
    if not (pa.types.is_string(column.type) or pa.types.is_binary(column.type)):
        column = pc.cast(column, pa.string())
    column = pc.fill_null(pc.cast(column, pa.large_binary()), b"")
    _, offset_buffer, data_buffer = column.buffers()
    offsets = np.frombuffer(offset_buffer, "<i8")[column.offset : column.offset + len(column) + 1]
    lengths = np.diff(offsets)
    data = (
        np.frombuffer(data_buffer, "u1")[offsets[0] : offsets[-1]]
        if data_buffer is not None
        else np.empty(0, "u1")
    )
    widths = np.ones(len(lengths), "i8")
    for bits in (7, 14, 21, 28, 35):
        widths += lengths >= (1 << bits)
    starts = np.zeros(len(lengths), "i8")
    np.cumsum((widths + lengths)[:-1], out=starts[1:])
    out = np.empty(int(widths.sum() + len(data)), "u1")
    is_data = np.ones(len(out), bool)
    for byte in range(int(widths.max(initial=1))):
        more = widths > byte
        where = starts[more] + byte
        value = (lengths[more] >> (7 * byte)) & 0x7F
        out[where] = value | np.where(widths[more] > byte + 1, 0x80, 0)
        is_data[where] = False
    out[is_data] = data
    return out.tobytes()


def insert(client, query: str, rows: pa.Table, settings: dict) -> None:
    """``INSERT ... VALUES`` (``query``) of ``rows`` as one native block, through ``client``'s connection.

    The packets are those the driver sends for a columnar insert; only the
    columns' bytes are made here.
    """
    from clickhouse_driver import defines
    from clickhouse_driver.block import BlockInfo, ColumnOrientedBlock
    from clickhouse_driver.columns.service import write_column
    from clickhouse_driver.protocol import ClientPacketTypes
    from clickhouse_driver.varint import write_varint
    from clickhouse_driver.writer import write_binary_str, write_binary_uint8

    with client.disconnect_on_error(query, settings):
        connection = client.connection
        connection.send_query(query)
        connection.send_external_tables(None)
        columns = client.receive_sample_block().columns_with_types
        revision = connection.server_info.used_revision
        write_varint(ClientPacketTypes.DATA, connection.fout)
        if revision >= defines.DBMS_MIN_REVISION_WITH_TEMPORARY_TABLES:
            write_binary_str("", connection.fout)
        out = connection.block_out.fout
        if revision >= defines.DBMS_MIN_REVISION_WITH_BLOCK_INFO:
            BlockInfo().write(out)
        write_varint(len(columns), out)
        write_varint(rows.num_rows, out)
        for name, ch_type in columns:
            write_binary_str(name, out)
            write_binary_str(ch_type, out)
            if revision >= defines.DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION:
                write_binary_uint8(0, out)
            data = encode(rows.column(name), ch_type)
            if data is None:  # (LowCardinality, for one): the driver's encoder
                write_column(connection.context, name, ch_type, rows.column(name).to_pylist(), out)
            else:
                out.write(data)
        connection.block_out.finalize()
        client.receive_profile_events()
        connection.send_data(ColumnOrientedBlock())  # no more blocks
        client.receive_profile_events()
        client.receive_end_of_insert_query()
