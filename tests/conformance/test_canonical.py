"""Hand-checked values for the canonical JSONL rendering and the comparison.

These need pyarrow but neither pypaimon nor strata.
"""

from decimal import Decimal

import pytest

import canonical as c


@pytest.mark.parametrize("value,unit,ltz,text", [
    (0, "ns", False, "1970-01-01T00:00:00"),
    (-1, "ns", False, "1969-12-31T23:59:59.999999999"),
    (-1, "us", False, "1969-12-31T23:59:59.999999"),
    (-1, "ms", False, "1969-12-31T23:59:59.999"),
    (-1000, "us", False, "1969-12-31T23:59:59.999"),
    (-1_000_000, "us", False, "1969-12-31T23:59:59"),
    (1500, "ms", True, "1970-01-01T00:00:01.500Z"),
    (1_000_001_000, "ns", False, "1970-01-01T00:00:01.000001"),
    (1_100_000_000, "ns", False, "1970-01-01T00:00:01.100"),
    (1_000_000_001, "ns", True, "1970-01-01T00:00:01.000000001Z"),
    (951_782_400_000, "ms", False, "2000-02-29T00:00:00"),
    (-62_135_596_800_000, "ms", False, "0001-01-01T00:00:00"),
    (253_402_300_799_999, "ms", False, "9999-12-31T23:59:59.999"),
    (253_402_300_799_999_999, "us", False, "9999-12-31T23:59:59.999999"),
    (-2_208_988_800_000_000_001, "ns", False, "1899-12-31T23:59:59.999999999"),
    (-9_000_000_000_000_000_000, "ns", True, "1684-10-19T08:00:00Z"),
    (1_700_000_000_123_456, "us", False, "2023-11-14T22:13:20.123456"),
])
def test_timestamp(value, unit, ltz, text):
    assert c.render_timestamp(value, unit, ltz) == text


@pytest.mark.parametrize("days,text", [
    (0, "1970-01-01"), (-1, "1969-12-31"), (19782, "2024-02-29"), (-25509, "1900-02-28"),
    (-25508, "1900-03-01"), (-25567, "1900-01-01"),
    (-719162, "0001-01-01"), (2932896, "9999-12-31"), (11016, "2000-02-29"),
])
def test_date(days, text):
    assert c.render_date(days) == text


@pytest.mark.parametrize("millis,text", [
    (0, "00:00:00"), (1, "00:00:00.001"), (1000, "00:00:01"), (86_399_999, "23:59:59.999"),
    (45_296_789, "12:34:56.789"), (43_200_000, "12:00:00"),
])
def test_time(millis, text):
    assert c.render_time_millis(millis) == text


@pytest.mark.parametrize("value,scale,text", [
    (Decimal("12.3"), 2, "12.30"), (Decimal("-0.05"), 2, "-0.05"), (Decimal("12"), 0, "12"),
    (Decimal("1E+2"), 0, "100"), (Decimal("0"), 3, "0.000"), (Decimal("-0.000"), 3, "0.000"),
    (Decimal("1E-10"), 10, "0.0000000001"),
    (Decimal("9" * 38), 0, "9" * 38),
    (Decimal("-" + "9" * 28 + "." + "9" * 10), 10, "-" + "9" * 28 + "." + "9" * 10),
])
def test_decimal(value, scale, text):
    assert c.render_decimal_text(value, scale) == text


@pytest.mark.parametrize("value,single,text", [
    (0.1, False, "0.1"), (0.10000000149011612, True, "0.1"), (float("nan"), False, '"NaN"'),
    (float("inf"), True, '"Infinity"'), (float("-inf"), False, '"-Infinity"'),
    (5e-324, False, "5e-324"), (1e16, False, "1e+16"), (-0.0, False, "-0.0"),
    (3.4028234663852886e38, True, "3.4028235e+38"), (1.7976931348623157e308, False, "1.7976931348623157e+308"),
])
def test_float(value, single, text):
    assert c.render_float_text(value, single) == text


def test_binary_and_string():
    assert c.render_binary_text(b"") == '""'
    assert c.render_binary_text(b"\x00\xff") == '"AP8="'
    assert c.render_string_text('日本 "q" \\ \n') == '"日本 \\"q\\" \\\\ \\n"'


def test_arrow_table_rendering():
    pa = pytest.importorskip("pyarrow")
    schema = pa.schema([
        ("i", pa.int64()), ("f", pa.float32()), ("d", pa.decimal128(10, 2)),
        ("s", pa.string()), ("b", pa.binary()), ("dt", pa.date32()), ("t", pa.time32("ms")),
        ("ts", pa.timestamp("ns")), ("ltz", pa.timestamp("us", tz="UTC")),
        ("arr", pa.list_(pa.timestamp("ns"))),
        ("m", pa.map_(pa.int32(), pa.string())), ("ms", pa.map_(pa.string(), pa.int64())),
        ("r", pa.struct([("a", pa.int32()), ("b", pa.list_(pa.string()))])),
        ("bo", pa.bool_()),
    ])
    rows = [
        {"i": -2 ** 63, "f": 0.1, "d": Decimal("-0.05"), "s": "😀", "b": b"\x00", "dt": -1, "t": 1,
         "ts": -1, "ltz": 0, "arr": [-1, None], "m": [(7, "x"), (-1, None)], "ms": [("k", 2 ** 63 - 1)],
         "r": {"a": None, "b": ["x", None]}, "bo": False},
        {k: None for k in schema.names},
    ]
    table = pa.Table.from_pylist(rows, schema=schema).slice(0)
    lines = c.render_arrow_table(table)
    assert lines[0] == (
        '{"i":-9223372036854775808,"f":0.1,"d":-0.05,"s":"😀","b":"AA==","dt":"1969-12-31",'
        '"t":"00:00:00.001","ts":"1969-12-31T23:59:59.999999999","ltz":"1970-01-01T00:00:00Z",'
        '"arr":["1969-12-31T23:59:59.999999999",null],"m":{"7":"x","-1":null},'
        '"ms":{"k":9223372036854775807},"r":{"a":null,"b":["x",null]},"bo":false}')
    assert lines[1] == "{" + ",".join('"%s":null' % n for n in schema.names) + "}"
    # a sliced table renders the same rows (offset-aware nested rendering)
    assert c.render_arrow_table(table.slice(1)) == lines[1:]


FIELDS = [
    {"name": "id", "type": "BIGINT NOT NULL"},
    {"name": "f", "type": "FLOAT"},
    {"name": "g", "type": "DOUBLE"},
    {"name": "d", "type": "DECIMAL(10, 2)"},
    {"name": "b", "type": "BYTES"},
    {"name": "m", "type": {"type": "MAP", "key": "INT NOT NULL", "value": "STRING"}},
    {"name": "r", "type": {"type": "ROW", "fields": [{"id": 9, "name": "x", "type": "FLOAT"}]}},
]


def norm(line):
    return c.normalize_row(c.parse_json_line(line), FIELDS)


def test_normalize_equivalences():
    a = norm('{"id":1,"f":0.1,"g":"NaN","d":12.30,"b":"AP8=","m":{"1":"a","2":null},"r":{"x":0.1}}')
    b = norm('{"id":1,"f":0.10000000149011612,"g":"NaN","d":12.3,"b":"AP8=","m":{"2":null,"1":"a"},'
             '"r":{"x":0.100000001}}')
    assert a == b and hash(a) == hash(b)


@pytest.mark.parametrize("line", [
    '{"id":1.0,"f":null,"g":null,"d":null,"b":null,"m":null,"r":null}',      # integer as float
    '{"id":1,"f":null,"g":null,"d":"12.30","b":null,"m":null,"r":null}',     # decimal as string
    '{"id":1,"f":null,"g":null,"d":null,"b":"AP8","m":null,"r":null}',       # unpadded base64
    '{"f":null,"id":1,"g":null,"d":null,"b":null,"m":null,"r":null}',        # key order
    '{"id":1,"f":null,"g":null,"d":null,"b":null,"m":null}',                 # missing column
    '{"id":1,"f":null,"g":null,"d":null,"b":null,"m":null,"r":{"y":1}}',     # wrong ROW field
])
def test_normalize_rejects(line):
    row = norm(line)
    assert any(isinstance(v, c.Bad) for v in row), row


def test_normalize_distinguishes():
    base = '{"id":1,"f":%s,"g":%s,"d":%s,"b":null,"m":null,"r":null}'
    assert norm(base % ("1.5", "1", "1")) != norm(base % ("1.5", "1.0000000000000002", "1"))
    assert norm(base % ("1.5", "1", "1.00")) != norm(base % ("1.5", "1", "1.01"))
    assert norm(base % ('"NaN"', "1", "1")) != norm(base % ("0", "1", "1"))
