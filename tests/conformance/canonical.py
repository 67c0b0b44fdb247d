"""Canonical JSONL rendering and type-aware comparison of table rows.

This module is shared by the generator (``paimon_gen.py``, which renders
pypaimon's reads) and by the pytest suite (which compares what ``strata read
--output-format jsonl`` prints with those files).  It needs only the standard
library at import time; pyarrow is imported lazily by the Arrow renderer.

Canonical rendering of one value (the Rust side implements the same):

* null -> ``null``; BOOLEAN -> ``true``/``false``; integer types -> JSON
  integer (exact).
* FLOAT/DOUBLE -> JSON number (shortest round-trip text of the float32 /
  float64 value); NaN -> ``"NaN"``, +inf -> ``"Infinity"``, -inf ->
  ``"-Infinity"``.
* DECIMAL(p, s) -> JSON number with exactly ``s`` digits after the point
  (``s = 0``: integer text).
* CHAR/VARCHAR/STRING -> JSON string; BINARY/VARBINARY/BYTES -> standard
  padded base64 string.
* DATE -> ``"YYYY-MM-DD"``; TIME -> ``"HH:MM:SS"`` plus ``".fff"`` only if the
  millis are non-zero.
* TIMESTAMP(p) -> ``"YYYY-MM-DDTHH:MM:SS"`` plus a fraction only if non-zero,
  of 3, 6 or 9 digits (the shortest of those that is exact); TIMESTAMP_LTZ the
  same followed by ``"Z"``.
* ARRAY -> JSON array; MAP -> JSON object whose keys are the key's string
  (CHAR/VARCHAR/STRING keys) or the key's canonical JSON text (any other key
  type, e.g. INT key 7 -> ``"7"``); ROW -> JSON object by field name.
* One JSON object per row, keys = column names in schema order.

Comparison (``normalize_row``) is type-aware: decimals compare as
``decimal.Decimal`` (numerically), FLOAT values are rounded to float32 on both
sides, NaN equals NaN, and everything else compares exactly.
"""

import base64
import datetime
import json
import math
import re
import struct
from decimal import Decimal

# --------------------------------------------------------------------------
# Paimon type descriptions
# --------------------------------------------------------------------------
#
# A Paimon type, as it appears in a schema file, is either a string
# ("BIGINT NOT NULL", "DECIMAL(38, 10)", "TIMESTAMP(3) WITH LOCAL TIME ZONE")
# or, for nested types, an object {"type": "ARRAY", "element": ...},
# {"type": "MAP", "key": ..., "value": ...} or
# {"type": "ROW", "fields": [{"id", "name", "type"}, ...]}.

_NOT_NULL = re.compile(r"\s+NOT\s+NULL\s*$", re.I)
_NULL = re.compile(r"\s+NULL\s*$", re.I)


def strip_nullability(type_string):
    s = _NOT_NULL.sub("", type_string.strip())
    return _NULL.sub("", s).strip()


def type_kind(ptype):
    """The kind of a Paimon type: 'ARRAY', 'MAP', 'ROW', 'MULTISET' or the
    atomic base name ('INT', 'DECIMAL', 'TIMESTAMP', 'TIMESTAMP_LTZ', ...)."""
    if isinstance(ptype, dict):
        return strip_nullability(ptype["type"]).split("<")[0].strip().upper()
    s = strip_nullability(ptype).upper()
    if "WITH LOCAL TIME ZONE" in s:
        return "TIMESTAMP_LTZ"
    base = re.split(r"[\s(]", s, maxsplit=1)[0]
    return {"INTEGER": "INT", "NUMERIC": "DECIMAL", "DEC": "DECIMAL"}.get(base, base)


def decimal_scale(ptype):
    m = re.search(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", strip_nullability(ptype))
    if not m:
        return 0
    return int(m.group(2) or 0)


def type_sql(ptype):
    """A readable SQL-ish string for a Paimon type (for meta.json/messages)."""
    if not isinstance(ptype, dict):
        return ptype
    kind = type_kind(ptype)
    nn = ""
    if ptype.get("nullable") is False or _NOT_NULL.search(ptype["type"]):
        nn = " NOT NULL"
    if kind in ("ARRAY", "MULTISET"):
        return "%s<%s>%s" % (kind, type_sql(ptype["element"]), nn)
    if kind == "MAP":
        return "MAP<%s, %s>%s" % (type_sql(ptype["key"]), type_sql(ptype["value"]), nn)
    if kind == "ROW":
        inner = ", ".join("%s %s" % (f["name"], type_sql(f["type"])) for f in ptype["fields"])
        return "ROW<%s>%s" % (inner, nn)
    return ptype["type"]


STRING_KINDS = ("CHAR", "VARCHAR", "STRING")
INT_KINDS = ("TINYINT", "SMALLINT", "INT", "BIGINT")

# --------------------------------------------------------------------------
# Rendering helpers (integer epoch values -> canonical text)
# --------------------------------------------------------------------------

_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def render_date(days):
    """Days since 1970-01-01 -> 'YYYY-MM-DD' (proleptic Gregorian)."""
    return datetime.date.fromordinal(_EPOCH_ORDINAL + int(days)).isoformat()


def _fraction(nanos):
    if nanos == 0:
        return ""
    if nanos % 1_000_000 == 0:
        return ".%03d" % (nanos // 1_000_000)
    if nanos % 1_000 == 0:
        return ".%06d" % (nanos // 1_000)
    return ".%09d" % nanos


def render_time_millis(millis):
    """Millis of day -> 'HH:MM:SS' (+ '.fff' if non-zero millis)."""
    millis = int(millis)
    secs, ms = divmod(millis, 1000)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    out = "%02d:%02d:%02d" % (h, m, s)
    if ms:
        out += ".%03d" % ms
    return out


_UNITS_PER_SECOND = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}


def render_timestamp(value, unit, ltz=False):
    """Integer epoch value in ``unit`` ('s','ms','us','ns') -> canonical text."""
    per_sec = _UNITS_PER_SECOND[unit]
    secs, sub = divmod(int(value), per_sec)  # floor division: sub >= 0
    nanos = sub * (1_000_000_000 // per_sec)
    days, sod = divmod(secs, 86400)
    h, rem = divmod(sod, 3600)
    m, s = divmod(rem, 60)
    out = "%sT%02d:%02d:%02d%s" % (render_date(days), h, m, s, _fraction(nanos))
    return out + "Z" if ltz else out


def render_float_text(x, single=False):
    """JSON text for a float: shortest round-trip text, NaN/inf as strings."""
    if math.isnan(x):
        return '"NaN"'
    if math.isinf(x):
        return '"Infinity"' if x > 0 else '"-Infinity"'
    if single:
        import numpy as np  # pyarrow depends on numpy

        return str(np.float32(x))
    return repr(float(x))


def render_decimal_text(d, scale):
    """Decimal -> fixed-point text with exactly ``scale`` digits."""
    import decimal

    ctx = decimal.Context(prec=100)
    q = Decimal(d).quantize(Decimal(1).scaleb(-scale), context=ctx)
    text = format(q, "f")
    if text.startswith("-") and Decimal(text) == 0:
        text = text[1:]
    return text


def render_binary_text(b):
    return json.dumps(base64.b64encode(bytes(b)).decode("ascii"))


def render_string_text(s):
    return json.dumps(s, ensure_ascii=False)


# --------------------------------------------------------------------------
# Arrow -> canonical JSON text (used on pypaimon's reads)
# --------------------------------------------------------------------------


def _combine(arr):
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 1:
            return arr.chunk(0)
        if arr.num_chunks == 0:
            return pa.array([], type=arr.type)
        return pa.concat_arrays(arr.chunks)
    return arr


def render_arrow_array(arr):
    """Render every element of an Arrow array to its canonical JSON text.

    Works on the Arrow types pypaimon 2.1.0 produces for Paimon types (see
    ``PyarrowFieldParser.from_paimon_type``). Temporal values are rendered from
    their integer representation, so nanoseconds and pre-1970 values are exact.
    """
    import pyarrow as pa
    import pyarrow.types as pt

    arr = _combine(arr)
    t = arr.type
    n = len(arr)
    valid = arr.is_valid().to_pylist() if n else []

    def with_nulls(texts):
        return [txt if ok else "null" for txt, ok in zip(texts, valid)]

    if pt.is_null(t):
        return ["null"] * n
    if pt.is_boolean(t):
        return with_nulls(["true" if v else "false" for v in arr.fill_null(False).to_pylist()])
    if pt.is_integer(t):
        return [("null" if v is None else str(int(v))) for v in arr.to_pylist()]
    if pt.is_float32(t) or pt.is_float64(t):
        single = pt.is_float32(t)
        return [("null" if v is None else render_float_text(v, single)) for v in arr.to_pylist()]
    if pt.is_decimal(t):
        return [("null" if v is None else render_decimal_text(v, t.scale)) for v in arr.to_pylist()]
    if pt.is_string(t) or pt.is_large_string(t):
        return [("null" if v is None else render_string_text(v)) for v in arr.to_pylist()]
    if pt.is_binary(t) or pt.is_large_binary(t) or pt.is_fixed_size_binary(t):
        return [("null" if v is None else render_binary_text(v)) for v in arr.to_pylist()]
    if pt.is_date32(t):
        ints = arr.cast(pa.int32()).to_pylist()
        return [("null" if v is None else json.dumps(render_date(v))) for v in ints]
    if pt.is_date64(t):
        ints = arr.cast(pa.int64()).to_pylist()
        return [("null" if v is None else json.dumps(render_date(v // 86_400_000))) for v in ints]
    if pt.is_time32(t) or pt.is_time64(t):
        ints = arr.cast(pa.int64() if pt.is_time64(t) else pa.int32()).to_pylist()
        div = {"s": None, "ms": 1, "us": 1000, "ns": 1_000_000}[t.unit]
        out = []
        for v in ints:
            if v is None:
                out.append("null")
            elif div is None:
                out.append(json.dumps(render_time_millis(v * 1000)))
            else:
                out.append(json.dumps(render_time_millis(v // div)))
        return out
    if pt.is_timestamp(t):
        ints = arr.cast(pa.int64()).to_pylist()
        ltz = t.tz is not None
        return [("null" if v is None else json.dumps(render_timestamp(v, t.unit, ltz))) for v in ints]
    if pt.is_map(t):
        offsets = arr.offsets.to_pylist()
        key_type = t.key_type
        keys = render_arrow_array(arr.keys)
        items = render_arrow_array(arr.items)
        string_keys = pt.is_string(key_type) or pt.is_large_string(key_type)
        out = []
        for i in range(n):
            if not valid[i]:
                out.append("null")
                continue
            parts = []
            for j in range(offsets[i], offsets[i + 1]):
                ktext = json.loads(keys[j]) if string_keys else keys[j]
                parts.append(render_string_text(ktext) + ":" + items[j])
            out.append("{" + ",".join(parts) + "}")
        return out
    if pt.is_list(t) or pt.is_large_list(t) or pt.is_fixed_size_list(t):
        if pt.is_fixed_size_list(t):
            size = t.list_size
            base = arr.offset * size
            offsets = [base + i * size for i in range(n + 1)]
        else:
            offsets = arr.offsets.to_pylist()
        values = render_arrow_array(arr.values)
        out = []
        for i in range(n):
            if not valid[i]:
                out.append("null")
                continue
            out.append("[" + ",".join(values[offsets[i]:offsets[i + 1]]) + "]")
        return out
    if pt.is_struct(t):
        children = arr.flatten()  # offset-aware, one array per field
        rendered = [render_arrow_array(c) for c in children]
        names = [t.field(i).name for i in range(t.num_fields)]
        out = []
        for i in range(n):
            if not valid[i]:
                out.append("null")
                continue
            out.append("{" + ",".join(render_string_text(nm) + ":" + col[i]
                                      for nm, col in zip(names, rendered)) + "}")
        return out
    raise TypeError("no canonical rendering for Arrow type %s" % t)


def render_arrow_table(table):
    """Render a pyarrow Table to a list of canonical JSONL lines (unsorted)."""
    if table is None:
        return []
    names = table.schema.names
    cols = [render_arrow_array(table.column(i)) for i in range(table.num_columns)]
    keys = [render_string_text(nm) for nm in names]
    return ["{" + ",".join(k + ":" + col[r] for k, col in zip(keys, cols)) + "}"
            for r in range(table.num_rows)]


# --------------------------------------------------------------------------
# Parsing + normalizing JSONL rows for comparison
# --------------------------------------------------------------------------


def parse_json_line(line):
    """json.loads that keeps numbers exact (Decimal for non-integers)."""
    return json.loads(line, parse_float=Decimal, parse_int=int)


class _NaN:
    """Hashable stand-in for NaN so that NaN == NaN in multisets."""

    def __eq__(self, other):
        return isinstance(other, _NaN)

    def __hash__(self):
        return hash("NaN-sentinel")

    def __repr__(self):
        return "NaN"


NAN = _NaN()


class Bad:
    """Marks a value that is not valid for its column type; never equal to a
    well-formed value, shown verbatim in diffs."""

    def __init__(self, why, value):
        self.why = why
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Bad) and (self.why, repr(self.value)) == (other.why, repr(other.value))

    def __hash__(self):
        return hash((self.why, repr(self.value)))

    def __repr__(self):
        return "<bad %s: %r>" % (self.why, self.value)


def _to_float(v):
    if isinstance(v, str):
        if v == "NaN":
            return float("nan")
        if v == "Infinity":
            return float("inf")
        if v == "-Infinity":
            return float("-inf")
        return None
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, Decimal, float)):
        return float(v)
    return None


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def normalize_value(v, ptype):
    """Normalize one parsed JSON value of Paimon type ``ptype`` to a hashable,
    comparable Python value."""
    if v is None:
        return None
    kind = type_kind(ptype)
    if kind == "BOOLEAN":
        return v if isinstance(v, bool) else Bad("BOOLEAN", v)
    if kind in INT_KINDS:
        return v if isinstance(v, int) and not isinstance(v, bool) else Bad(kind, v)
    if kind in ("FLOAT", "DOUBLE"):
        f = _to_float(v)
        if f is None:
            return Bad(kind, v)
        if math.isnan(f):
            return NAN
        if kind == "FLOAT":
            try:
                f = _f32(f)
            except OverflowError:
                return Bad("FLOAT out of range", v)
        return ("float", f)
    if kind == "DECIMAL":
        if isinstance(v, bool) or not isinstance(v, (int, Decimal)):
            return Bad("DECIMAL", v)
        return ("dec", Decimal(v))
    if kind in STRING_KINDS:
        return v if isinstance(v, str) else Bad(kind, v)
    if kind in ("BINARY", "VARBINARY", "BYTES"):
        if not isinstance(v, str):
            return Bad(kind, v)
        try:
            raw = base64.b64decode(v, validate=True)
        except Exception:  # noqa: BLE001 - any decoding failure is a mismatch
            return Bad("base64", v)
        if base64.b64encode(raw).decode("ascii") != v:
            return Bad("non-canonical base64", v)
        return ("bin", raw)
    if kind in ("DATE", "TIME", "TIMESTAMP", "TIMESTAMP_LTZ"):
        # Canonical text is exact and unique, so compare the text.
        return v if isinstance(v, str) else Bad(kind, v)
    if kind in ("ARRAY", "MULTISET"):
        if not isinstance(v, list):
            return Bad(kind, v)
        items = [normalize_value(x, ptype["element"]) for x in v]
        if kind == "MULTISET":
            return ("multiset", tuple(sorted(items, key=repr)))
        return tuple(items)
    if kind == "MAP":
        if not isinstance(v, dict):
            return Bad("MAP", v)
        return ("map", frozenset((k, normalize_value(x, ptype["value"])) for k, x in v.items()))
    if kind == "ROW":
        if not isinstance(v, dict):
            return Bad("ROW", v)
        fields = ptype["fields"]
        names = [f["name"] for f in fields]
        if list(v.keys()) != names:
            return Bad("ROW fields %s" % names, v)
        return tuple(normalize_value(v[f["name"]], f["type"]) for f in fields)
    # Unknown type kinds (VARIANT, BLOB, ...): exact JSON equality.
    return ("json", json.dumps(v, sort_keys=True, default=str))


def normalize_row(obj, fields):
    """Normalize a parsed JSONL row against ``fields`` ([{name, type}...]).

    Returns a tuple of normalized values in schema order. Missing or extra
    keys turn the row into a Bad marker so that it shows up in the diff.
    """
    names = [f["name"] for f in fields]
    if not isinstance(obj, dict):
        return (Bad("row is not a JSON object", obj),)
    if list(obj.keys()) != names:
        return (Bad("row keys %s != schema %s" % (list(obj.keys()), names), obj),)
    return tuple(normalize_value(obj[f["name"]], f["type"]) for f in fields)
