"""Rows of a Parquet file as JSON lines in the format of evs::parquet::ToJsonLines.

Objects in schema order, no spaces; integers in decimal; floats as C's "%.17g"
(FLOAT widened to double), NaN/Infinity/-Infinity as strings; strings as JSON
strings without ASCII escaping; other binary as "0x<hex>"; maps as lists of
{"<key name>":k,"<value name>":v}.
"""
import json
import math
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def _fmt(value, typ):
    if value is None:
        return "null"
    if pa.types.is_boolean(typ):
        return "true" if value else "false"
    if pa.types.is_integer(typ):
        return str(int(value))
    if pa.types.is_floating(typ):
        x = float(value)
        if math.isnan(x):
            return '"NaN"'
        if math.isinf(x):
            return '"Infinity"' if x > 0 else '"-Infinity"'
        return "%.17g" % x
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return json.dumps(value, ensure_ascii=False)
    if pa.types.is_binary(typ) or pa.types.is_fixed_size_binary(typ) or pa.types.is_large_binary(typ):
        return '"0x' + bytes(value).hex() + '"'
    if pa.types.is_map(typ):
        kn, vn = typ.key_field.name, typ.item_field.name
        return "[" + ",".join(
            "{" + json.dumps(kn) + ":" + _fmt(k, typ.key_type) + "," + json.dumps(vn) + ":"
            + _fmt(v, typ.item_type) + "}" for k, v in value) + "]"
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return "[" + ",".join(_fmt(v, typ.value_type) for v in value) + "]"
    if pa.types.is_struct(typ):
        return "{" + ",".join(
            json.dumps(typ.field(i).name, ensure_ascii=False) + ":" + _fmt(value[typ.field(i).name], typ.field(i).type)
            for i in range(typ.num_fields)) + "}"
    raise TypeError("unsupported type %s" % typ)


def table_json_lines(table):
    struct = pa.struct(list(table.schema))
    out = []
    for row in table.to_pylist():
        out.append(_fmt(row, struct) + "\n")
    return "".join(out)


def file_json_lines(path):
    return table_json_lines(pq.read_table(path))


if __name__ == "__main__":
    for p in sys.argv[1:]:
        sys.stdout.write(file_json_lines(p))
