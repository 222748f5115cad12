"""Canonical order for the unordered lists in a Parquet footer (Thrift compact protocol).

parquet-mr collects a column chunk's encodings (ColumnMetaData.encodings) and its per-page
encoding statistics (ColumnMetaData.encoding_stats) in hash-based sets of enums. The iteration
order follows identity hash codes and changes from one JVM run to the next. Nothing else in
the file does, so sorting these two lists is enough for byte-identical re-runs. Everything
else is decoded and re-encoded as it was; a footer that does not re-encode to its own bytes
is left alone.
"""

import struct

STOP, TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(13)


class _Reader:
    def __init__(self, buf):
        self.b, self.i = buf, 0

    def byte(self):
        v = self.b[self.i]
        self.i += 1
        return v

    def varint(self):
        shift = v = 0
        while True:
            c = self.byte()
            v |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return v

    def zigzag(self):
        v = self.varint()
        return (v >> 1) ^ -(v & 1)

    def value(self, t):
        if t in (TRUE, FALSE):  # inside a collection: one byte
            return self.byte()
        if t == BYTE:
            return self.byte()
        if t in (I16, I32, I64):
            return self.zigzag()
        if t == DOUBLE:
            v = self.b[self.i:self.i + 8]
            self.i += 8
            return bytes(v)
        if t == BINARY:
            n = self.varint()
            v = self.b[self.i:self.i + n]
            self.i += n
            return bytes(v)
        if t in (LIST, SET):
            h = self.byte()
            n, et = h >> 4, h & 0x0F
            if n == 15:
                n = self.varint()
            return (et, [self.value(et) for _ in range(n)])
        if t == MAP:
            n = self.varint()
            if n == 0:
                return (0, 0, [])
            kv = self.byte()
            kt, vt = kv >> 4, kv & 0x0F
            return (kt, vt, [(self.value(kt), self.value(vt)) for _ in range(n)])
        if t == STRUCT:
            return self.struct()
        raise ValueError("unknown thrift compact type %d" % t)

    def struct(self):
        fields, last = [], 0
        while True:
            h = self.byte()
            if h == STOP:
                return fields
            t, delta = h & 0x0F, h >> 4
            fid = last + delta if delta else self.zigzag()
            last = fid
            if t in (TRUE, FALSE):
                fields.append((fid, t, t == TRUE))
            else:
                fields.append((fid, t, self.value(t)))


class _Writer:
    def __init__(self):
        self.out = bytearray()

    def varint(self, v):
        while True:
            if v < 0x80:
                self.out.append(v)
                return
            self.out.append((v & 0x7F) | 0x80)
            v >>= 7

    def zigzag(self, v, bits):
        self.varint(((v << 1) ^ (v >> (bits - 1))) & ((1 << bits) - 1) if v < 0 else v << 1)

    def value(self, t, v):
        if t in (TRUE, FALSE, BYTE):
            self.out.append(v)
        elif t == I16:
            self.zigzag(v, 16)
        elif t == I32:
            self.zigzag(v, 32)
        elif t == I64:
            self.zigzag(v, 64)
        elif t == DOUBLE:
            self.out += v
        elif t == BINARY:
            self.varint(len(v))
            self.out += v
        elif t in (LIST, SET):
            et, items = v
            if len(items) < 15:
                self.out.append((len(items) << 4) | et)
            else:
                self.out.append(0xF0 | et)
                self.varint(len(items))
            for x in items:
                self.value(et, x)
        elif t == MAP:
            kt, vt, items = v
            self.varint(len(items))
            if items:
                self.out.append((kt << 4) | vt)
                for k, x in items:
                    self.value(kt, k)
                    self.value(vt, x)
        elif t == STRUCT:
            self.struct(v)
        else:
            raise ValueError("unknown thrift compact type %d" % t)

    def struct(self, fields):
        last = 0
        for fid, t, v in fields:
            wt = (TRUE if v else FALSE) if t in (TRUE, FALSE) else t
            d = fid - last
            if 0 < d <= 15:
                self.out.append((d << 4) | wt)
            else:
                self.out.append(wt)
                self.zigzag(fid, 16)
            last = fid
            if t not in (TRUE, FALSE):
                self.value(t, v)
        self.out.append(STOP)


def _field(fields, fid):
    for i, (f, t, v) in enumerate(fields):
        if f == fid:
            return i, t, v
    return None, None, None


def _canonical(meta):
    """FileMetaData.row_groups(4)[].columns(1)[].meta_data(3): sort encodings(2) and
    encoding_stats(13). Returns the number of lists whose order changed."""
    changed = 0
    _, _, rgs = _field(meta, 4)
    for rg in (rgs[1] if rgs else []):
        _, _, cols = _field(rg, 1)
        for cc in (cols[1] if cols else []):
            _, _, md = _field(cc, 3)
            if md is None:
                continue
            for fid, key in ((2, lambda x: x), (13, lambda s: [(f, v) for f, _, v in s])):
                i, t, v = _field(md, fid)
                if i is None:
                    continue
                et, items = v
                srt = sorted(items, key=key)
                if srt != items:
                    changed += 1
                md[i] = (fid, t, (et, srt))
    return changed


def canonicalise(path):
    """Rewrite the footer of the Parquet file at `path` in canonical order, in place.
    Returns the number of reordered lists, or -1 if the footer was left alone."""
    raw = open(path, "rb").read()
    if raw[-4:] != b"PAR1":
        return -1
    n = struct.unpack("<I", raw[-8:-4])[0]
    start = len(raw) - 8 - n
    footer = raw[start:len(raw) - 8]
    r = _Reader(footer)
    meta = r.struct()
    w = _Writer()
    w.struct(meta)
    if bytes(w.out) != footer or r.i != len(footer):
        return -1  # something this decoder does not reproduce exactly: leave the file alone
    changed = _canonical(meta)
    if not changed:
        return 0
    w = _Writer()
    w.struct(meta)
    new = bytes(w.out)
    assert len(new) == len(footer)
    with open(path, "wb") as f:
        f.write(raw[:start] + new + raw[len(raw) - 8:])
    return changed
