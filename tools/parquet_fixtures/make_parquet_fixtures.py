"""Writes the Parquet reader's fixtures: small files covering each codec, data
page v1/v2, dictionary and plain encodings, nulls at every nesting level, the
nested shapes Spark's model writers use, several row groups and pages; and for
each readable file the expected rows (<name>.jsonl, computed with pyarrow in
the format of evs::parquet::ToJsonLines). err_*.parquet files must be
rejected with a clear error. Deterministic: same pyarrow, same bytes.

Usage: python make_parquet_fixtures.py OUT_DIR
"""
import math
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import legacy_lists  # noqa: E402
from pq_json import file_json_lines  # noqa: E402


def types_table(n=40):
    strings = ["a", "", "quote\"back\\slash", "tab\tnl\nctl\x01", "unicode \u00e9\u4e2d\U0001F600",
               "dup", "dup", "x" * 30]
    doubles = [0.0, -0.0, 1.5, -2.25, 0.1, 1e300, -1e-300, float("nan"), float("inf"),
               float("-inf"), 5e-324, 123456789.123456789]
    rows = {
        "i8": [None if i % 7 == 3 else (i * 37) % 256 - 128 for i in range(n)],
        "i16": [None if i % 5 == 1 else (i * 1231) % 65536 - 32768 for i in range(n)],
        "i32": [None if i % 6 == 2 else (i * 2654435761) % (2 ** 32) - 2 ** 31 for i in range(n)],
        "i64": [None if i % 9 == 4 else (i * 11400714819323198485) % (2 ** 64) - 2 ** 63
                for i in range(n)],
        "u32": [None if i % 8 == 0 else (i * 2654435761) % (2 ** 32) for i in range(n)],
        "f32": [None if i % 4 == 3 else doubles[i % len(doubles)] for i in range(n)],
        "f64": [None if i % 11 == 10 else doubles[(i * 5) % len(doubles)] for i in range(n)],
        "b": [None if i % 3 == 2 else (i % 2 == 0) for i in range(n)],
        "s": [None if i % 10 == 9 else strings[i % len(strings)] for i in range(n)],
        "bin": [None if i % 4 == 1 else bytes([i, 255 - i, 0]) for i in range(n)],
        "req_i32": list(range(n)),
        "req_s": ["r%d" % (i % 3) for i in range(n)],
    }
    schema = pa.schema([
        ("i8", pa.int8()), ("i16", pa.int16()), ("i32", pa.int32()), ("i64", pa.int64()),
        ("u32", pa.uint32()), ("f32", pa.float32()), ("f64", pa.float64()), ("b", pa.bool_()),
        ("s", pa.string()), ("bin", pa.binary()),
        pa.field("req_i32", pa.int32(), nullable=False),
        pa.field("req_s", pa.string(), nullable=False),
    ])
    return pa.table(rows, schema=schema)


VECTOR = pa.struct([
    pa.field("type", pa.int8(), nullable=False),
    pa.field("size", pa.int32()),
    pa.field("indices", pa.list_(pa.field("element", pa.int32(), nullable=False))),
    pa.field("values", pa.list_(pa.field("element", pa.float64(), nullable=False))),
])


def nested_table():
    schema = pa.schema([
        ("id", pa.int32()),
        ("st", pa.struct([("a", pa.int32()),
                          ("b", pa.struct([("c", pa.float64()), ("d", pa.string())]))])),
        ("ld", pa.list_(pa.float64())),
        ("lls", pa.list_(pa.list_(pa.string()))),
        ("maps", pa.map_(pa.int32(), pa.map_(pa.float64(), pa.int32()))),
        ("vec", VECTOR),
        ("req_vec", pa.field("req_vec", VECTOR, nullable=False).type),
        ("lst", pa.list_(pa.struct([("x", pa.int64()), ("y", pa.list_(pa.string()))]))),
        ("lb", pa.list_(pa.bool_())),
    ])
    rows = [
        dict(id=0, st={"a": 1, "b": {"c": 2.5, "d": "x"}}, ld=[1.0, 2.0, 3.0],
             lls=[["a", "b"], ["c"]], maps=[(0, [(0.0, 0), (1.0, 1)]), (1, [(5.0, 4)])],
             vec={"type": 1, "size": None, "indices": None, "values": [0.5, -1.0]},
             req_vec={"type": 0, "size": 4, "indices": [0, 3], "values": [1.0, 2.0]},
             lst=[{"x": 1, "y": ["p", "q"]}, {"x": 2, "y": []}], lb=[True, False, True]),
        dict(id=None, st=None, ld=None, lls=None, maps=None, vec=None,
             req_vec={"type": 1, "size": None, "indices": None, "values": []},
             lst=None, lb=None),
        dict(id=2, st={"a": None, "b": None}, ld=[], lls=[], maps=[],
             vec={"type": 0, "size": 3, "indices": [], "values": []},
             req_vec={"type": 0, "size": 0, "indices": [], "values": []},
             lst=[], lb=[]),
        dict(id=3, st={"a": 4, "b": {"c": None, "d": None}}, ld=[None, 1.25, None],
             lls=[None, [], [None], ["d", None, "e"]], maps=[(7, None), (8, [])],
             vec={"type": 1, "size": None, "indices": None, "values": [float("nan")]},
             req_vec={"type": 1, "size": None, "indices": None, "values": [3.0]},
             lst=[None, {"x": None, "y": None}, {"x": 5, "y": [None, "z"]}], lb=[None, False]),
        dict(id=4, st={"a": 5, "b": {"c": -0.0, "d": ""}}, ld=[4.0],
             lls=[["only"]], maps=[(2, [(-1.5, 3), (2.5, None)])],
             vec={"type": 0, "size": 10, "indices": [1, 5, 9], "values": [0.1, 0.2, 0.3]},
             req_vec={"type": 0, "size": 2, "indices": [1], "values": [7.0]},
             lst=[{"x": 9, "y": ["w"]}], lb=[True]),
    ]
    return pa.Table.from_pylist(rows, schema=schema)


def big_table(n=240):
    schema = pa.schema([
        ("i", pa.int64()),
        ("cat", pa.string()),
        ("d", pa.float64()),
        ("ld", pa.list_(pa.float64())),
        ("vec", VECTOR),
    ])
    rows = []
    for i in range(n):
        k = i % 5
        rows.append(dict(
            i=None if i % 13 == 0 else i * 3,
            cat=None if i % 17 == 0 else "c%d" % (i % 7),
            d=None if i % 19 == 0 else i / 7.0,
            ld=None if i % 23 == 0 else [j * 0.5 + i for j in range(k)],
            vec={"type": 1, "size": None, "indices": None, "values": [float(i), -float(i)]}
            if i % 2 else {"type": 0, "size": 100, "indices": [i % 100], "values": [1.0]},
        ))
    return pa.Table.from_pylist(rows, schema=schema)


def write(out, name, table, **kw):
    path = os.path.join(out, name + ".parquet")
    pq.write_table(table, path, **kw)
    if not name.startswith("err_"):
        with open(os.path.join(out, name + ".jsonl"), "w", encoding="utf-8") as f:
            f.write(file_json_lines(path))
    return path


def main(out):
    os.makedirs(out, exist_ok=True)
    t = types_table()
    write(out, "types_none_v1_plain", t, compression="none", use_dictionary=False)
    write(out, "types_snappy_v1_dict", t, compression="snappy", use_dictionary=True)
    write(out, "types_gzip_v2_dict", t, compression="gzip", use_dictionary=True,
          data_page_version="2.0")
    write(out, "types_zstd_v2_plain", t, compression="zstd", use_dictionary=False,
          data_page_version="2.0")
    # Format version 1.0: PLAIN_DICTIONARY, as Spark's parquet-mr writes it.
    write(out, "types_snappy_v1_plaindict", t, compression="snappy", use_dictionary=True,
          version="1.0")
    # BOOLEAN values RLE-encoded (data page v2), uncompressed v2 pages.
    write(out, "types_none_v2_bool_rle", t, compression="none", use_dictionary=False,
          data_page_version="2.0", column_encoding={"b": "RLE"})

    n = nested_table()
    write(out, "nested_snappy_v1_dict", n, compression="snappy", use_dictionary=True)
    write(out, "nested_none_v1_plain", n, compression="none", use_dictionary=False)
    write(out, "nested_zstd_v2_dict", n, compression="zstd", use_dictionary=True,
          data_page_version="2.0")
    write(out, "nested_gzip_v2_plain", n, compression="gzip", use_dictionary=False,
          data_page_version="2.0")

    b = big_table()
    # Several row groups, several pages per chunk, dictionary falling back to
    # PLAIN once the dictionary page limit is hit.
    write(out, "multi_snappy_v1", b, compression="snappy", row_group_size=70,
          max_rows_per_page=17, data_page_size=256, dictionary_pagesize_limit=64,
          write_batch_size=16)
    write(out, "multi_zstd_v2", b, compression="zstd", row_group_size=90,
          max_rows_per_page=23, data_page_size=256, data_page_version="2.0",
          write_batch_size=16)
    write(out, "empty", b.slice(0, 0), compression="snappy")

    legacy_lists.write_all(out)

    small = pa.table({"v": pa.array([1, 2, 3], pa.int64())})
    write(out, "err_delta", small, compression="none", use_dictionary=False,
          column_encoding={"v": "DELTA_BINARY_PACKED"})
    write(out, "err_lz4", small, compression="lz4")
    write(out, "err_brotli", small, compression="brotli")
    ts = pa.table({"t": pa.array([0, 1], pa.timestamp("ns"))})
    write(out, "err_int96", ts, compression="none", use_deprecated_int96_timestamps=True)


if __name__ == "__main__":
    main(sys.argv[1])
