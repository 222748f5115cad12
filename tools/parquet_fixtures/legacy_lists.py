"""Hand-encoded Parquet files with the legacy list and map layouts pyarrow
cannot write: 2-level lists (`repeated int32 array`, a repeated group named
"array" or "<list>_tuple"), Spark's legacy 3-level list (`bag`/`array`), a bare
repeated field outside any LIST group, MAP_KEY_VALUE, and BIT_PACKED levels.
One uncompressed v1 data page per column; levels, values and the expected
rows are spelled out by hand below, so they depend on no writer or reader.
(Arrow reads BIT_PACKED levels LSB first; the format and parquet-mr say MSB
first, which is what Spark's files would carry, so pyarrow cannot check this.)
"""
import os
import struct

import pyarrow.parquet as pq

# Thrift compact protocol types.
T_TRUE, T_FALSE, T_BYTE, T_I16, T_I32, T_I64, T_DOUBLE, T_BINARY, T_LIST, T_SET, T_MAP, \
    T_STRUCT = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(n):
    return varint((n << 1) ^ (n >> 63))


class Struct:
    """Fields as (id, type, value); value is int, bytes, Struct or (elem_type, [values])."""

    def __init__(self, *fields):
        self.fields = [f for f in fields if f is not None]

    def encode(self):
        out = bytearray()
        last = 0
        for fid, ftype, value in self.fields:
            wire_type = ftype
            if ftype == "bool":
                wire_type = T_TRUE if value else T_FALSE
            delta = fid - last
            if 0 < delta <= 15:
                out.append((delta << 4) | wire_type)
            else:
                out.append(wire_type)
                out += zigzag(fid)
            last = fid
            if ftype != "bool":
                out += encode_value(ftype, value)
        out.append(0)
        return bytes(out)


def encode_value(ftype, value):
    if ftype == T_TRUE:  # a bool inside a collection
        return bytes([T_TRUE if value else T_FALSE])
    if ftype == T_BYTE:
        return struct.pack("<b", value)
    if ftype in (T_I16, T_I32, T_I64):
        return zigzag(value)
    if ftype == T_DOUBLE:
        return struct.pack("<d", value)
    if ftype == T_MAP:
        ktype, vtype, pairs = value
        if not pairs:
            return b"\x00"
        return varint(len(pairs)) + bytes([(ktype << 4) | vtype]) + b"".join(
            encode_value(ktype, k) + encode_value(vtype, v) for k, v in pairs)
    if ftype == T_BINARY:
        value = value.encode() if isinstance(value, str) else value
        return varint(len(value)) + value
    if ftype == T_STRUCT:
        return value.encode()
    if ftype in (T_LIST, T_SET):
        etype, items = value
        head = bytes([(len(items) << 4) | etype]) if len(items) < 15 else \
            bytes([0xF0 | etype]) + varint(len(items))
        return head + b"".join(encode_value(etype, v) for v in items)
    raise ValueError(ftype)


def bit_width(m):
    return m.bit_length()


def rle_hybrid(levels, width):
    """Levels as one bit-packed run (LSB first), padded to a multiple of 8."""
    padded = list(levels) + [0] * (-len(levels) % 8)
    acc, nbits, out = 0, 0, bytearray()
    for v in padded:
        acc |= v << nbits
        nbits += width
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    return varint(((len(padded) // 8) << 1) | 1) + bytes(out)


def bit_packed_msb(levels, width):
    """The deprecated BIT_PACKED level encoding: MSB first, no length prefix."""
    acc, nbits, out = 0, 0, bytearray()
    for v in levels:
        acc = (acc << width) | v
        nbits += width
        while nbits >= 8:
            out.append((acc >> (nbits - 8)) & 0xFF)
            nbits -= 8
    if nbits:
        out.append((acc << (8 - nbits)) & 0xFF)
    return bytes(out)


INT32, INT64, DOUBLE, BYTE_ARRAY = 1, 2, 5, 6
REQUIRED, OPTIONAL, REPEATED = 0, 1, 2
UTF8, MAP_KEY_VALUE, LIST = 0, 2, 3
RLE, BIT_PACKED = 3, 4


def plain(ptype, values):
    if ptype == INT32:
        return b"".join(struct.pack("<i", v) for v in values)
    if ptype == INT64:
        return b"".join(struct.pack("<q", v) for v in values)
    if ptype == DOUBLE:
        return b"".join(struct.pack("<d", v) for v in values)
    if ptype == BYTE_ARRAY:
        return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
    raise ValueError(ptype)


def schema_element(name, ptype=None, rep=None, children=None, conv=None):
    return Struct(
        (0, T_STRUCT, UNKNOWN) if name == "c_tuple" else None,
        (1, T_I32, ptype) if ptype is not None else None,
        (3, T_I32, rep) if rep is not None else None,
        (4, T_BINARY, name),
        (5, T_I32, children) if children is not None else None,
        (6, T_I32, conv) if conv is not None else None,
    )


UNKNOWN = Struct(
    (1, T_BYTE, -3), (2, T_I16, -300), (3, T_DOUBLE, -0.5), (4, "bool", True),
    (5, T_MAP, (T_I32, T_STRUCT, [(1, Struct((1, T_LIST, (T_LIST, [(T_I64, [1, 2]), (T_BINARY, [b"x"])])))),
                                   (2, Struct())])),
    (6, T_MAP, (T_I32, T_I32, [])),
    (20, T_LIST, (T_DOUBLE, [1.0] * 20)),
)


def write_file(path, schema, columns, num_rows):
    """columns: (path, ptype, max_rep, max_def, [(rep, def, value|None)], level_encoding)."""
    body = bytearray(b"PAR1")
    chunks = []
    for cpath, ptype, max_rep, max_def, triplets, lenc in columns:
        reps = [t[0] for t in triplets]
        defs = [t[1] for t in triplets]
        values = [t[2] for t in triplets if t[1] == max_def]
        page = bytearray()
        for levels, maxl in ((reps, max_rep), (defs, max_def)):
            if maxl == 0:
                continue
            if lenc == BIT_PACKED:
                page += bit_packed_msb(levels, bit_width(maxl))
            else:
                enc = rle_hybrid(levels, bit_width(maxl))
                page += struct.pack("<I", len(enc)) + enc
        page += plain(ptype, values)
        header = Struct(
            (1, T_I32, 0), (2, T_I32, len(page)), (3, T_I32, len(page)),
            (5, T_STRUCT, Struct((1, T_I32, len(triplets)), (2, T_I32, 0), (3, T_I32, lenc),
                                 (4, T_I32, lenc))),
        ).encode()
        offset = len(body)
        body += header + page
        size = len(header) + len(page)
        meta = Struct(
            (1, T_I32, ptype), (2, T_LIST, (T_I32, [0, lenc])),
            (3, T_LIST, (T_BINARY, cpath.split("."))), (4, T_I32, 0),
            (5, T_I64, len(triplets)), (6, T_I64, size), (7, T_I64, size), (9, T_I64, offset),
        )
        chunks.append(Struct((2, T_I64, offset), (3, T_STRUCT, meta)))
    footer = Struct(
        (1, T_I32, 1), (2, T_LIST, (T_STRUCT, schema)), (3, T_I64, num_rows),
        (4, T_LIST, (T_STRUCT, [Struct((1, T_LIST, (T_STRUCT, chunks)),
                                        (2, T_I64, len(body)), (3, T_I64, num_rows))])),
        (6, T_BINARY, "evserve legacy_lists.py"),
        # Fields this reader does not know, of every type, for the skipping code.
        (50, T_MAP, (T_BINARY, T_LIST, [("k", (T_STRUCT, [UNKNOWN, UNKNOWN])), ("e", (T_I32, []))])),
        (51, T_SET, (T_TRUE, [True, False, True])),
        (52, T_STRUCT, UNKNOWN),
        (300, T_DOUBLE, 2.5),
        (301, "bool", False),
    ).encode()
    body += footer + struct.pack("<I", len(footer)) + b"PAR1"
    with open(path, "wb") as f:
        f.write(body)


def write_all(out):
    se = schema_element
    schema = [
        se("schema", children=7),
        se("a", rep=OPTIONAL, children=1, conv=LIST),
        se("array", INT32, REPEATED),
        se("b", rep=OPTIONAL, children=1, conv=LIST),
        se("array", rep=REPEATED, children=2),
        se("x", INT32, REQUIRED),
        se("y", BYTE_ARRAY, OPTIONAL, conv=UTF8),
        se("c", rep=OPTIONAL, children=1, conv=LIST),
        se("c_tuple", rep=REPEATED, children=1),
        se("v", INT64, REQUIRED),
        se("d", rep=OPTIONAL, children=1, conv=LIST),
        se("bag", rep=REPEATED, children=1),
        se("array", DOUBLE, OPTIONAL),
        se("r", INT32, REPEATED),
        se("m", rep=OPTIONAL, children=1, conv=MAP_KEY_VALUE),
        se("map", rep=REPEATED, children=2),
        se("key", BYTE_ARRAY, REQUIRED, conv=UTF8),
        se("value", INT32, OPTIONAL),
        se("rg", rep=REPEATED, children=1),
        se("w", DOUBLE, OPTIONAL),
    ]
    # Rows:
    #   0: a=[1,2] b=[{1,"p"},{2,null}] c=[10] d=[1.5,null] r=[7,8,9] m={k1:1,k2:null} rg=[{0.5},{null}]
    #   1: a=null  b=[]                  c=null d=null       r=[]      m=null           rg=[]
    #   2: a=[]    b=null                c=[20,30] d=[]      r=[5]     m={}             rg=[{2.0}]
    columns = [
        ("a.array", INT32, 1, 2, [(0, 2, 1), (1, 2, 2), (0, 0, None), (0, 1, None)], RLE),
        ("b.array.x", INT32, 1, 2, [(0, 2, 1), (1, 2, 2), (0, 1, None), (0, 0, None)], RLE),
        ("b.array.y", BYTE_ARRAY, 1, 3, [(0, 3, "p"), (1, 2, None), (0, 1, None), (0, 0, None)],
         RLE),
        ("c.c_tuple.v", INT64, 1, 2, [(0, 2, 10), (0, 0, None), (0, 2, 20), (1, 2, 30)], RLE),
        ("d.bag.array", DOUBLE, 1, 3, [(0, 3, 1.5), (1, 2, None), (0, 0, None), (0, 1, None)],
         RLE),
        ("r", INT32, 1, 1, [(0, 1, 7), (1, 1, 8), (1, 1, 9), (0, 0, None), (0, 1, 5)],
         BIT_PACKED),
        ("m.map.key", BYTE_ARRAY, 1, 2, [(0, 2, "k1"), (1, 2, "k2"), (0, 0, None), (0, 1, None)],
         RLE),
        ("m.map.value", INT32, 1, 3, [(0, 3, 1), (1, 2, None), (0, 0, None), (0, 1, None)], RLE),
        ("rg.w", DOUBLE, 1, 2, [(0, 2, 0.5), (1, 1, None), (0, 0, None), (0, 2, 2.0)],
         BIT_PACKED),
    ]
    path = os.path.join(out, "legacy_lists.parquet")
    write_file(path, schema, columns, 3)
    pq.read_metadata(path)  # valid Thrift, as another reader sees it
    with open(os.path.join(out, "legacy_lists.jsonl"), "w", encoding="utf-8") as f:
        f.write(EXPECTED)


EXPECTED = (
    '{"a":[1,2],"b":[{"x":1,"y":"p"},{"x":2,"y":null}],"c":[{"v":10}],"d":[1.5,null],'
    '"r":[7,8,9],"m":[{"key":"k1","value":1},{"key":"k2","value":null}],'
    '"rg":[{"w":0.5},{"w":null}]}\n'
    '{"a":null,"b":[],"c":null,"d":null,"r":[],"m":null,"rg":[]}\n'
    '{"a":[],"b":null,"c":[{"v":20},{"v":30}],"d":[],"r":[5],"m":[],"rg":[{"w":2}]}\n'
)
