"""The Kusto language users paste: each operator and function with a hand-checked answer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from test_kql import EXCEPTIONS, METRICS, REQUESTS, TRACES, MemorySource

from azfunc_telemetry.local.kql import KqlError, TableSource, run_query

UTC = timezone.utc
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
EVENTS = (
    "datatable(name: string, n: long, at: datetime, tags: dynamic) ["
    "'a', 1, datetime(2024-05-01T10:00:00Z), dynamic(['x', 'y']),"
    "'b', 5, datetime(2024-05-01T10:20:00Z), dynamic(['z']),"
    "'a', 3, datetime(2024-05-01T10:40:00Z), dynamic([]),"
    "'b', 2, datetime(2024-05-01T11:10:00Z), dynamic({'k': 'v', 'j': 'w'})]"
)


@pytest.fixture
def source() -> TableSource:
    """The operator tests' two minutes of function-app telemetry."""
    return MemorySource(
        {"requests": REQUESTS, "traces": TRACES, "exceptions": EXCEPTIONS, "customMetrics": METRICS}
    )


def rows(query: str, source: TableSource | None = None) -> list[list[Any]]:
    """The result rows of ``query`` (on an empty source unless given)."""
    return run_query(query, source or MemorySource({}), now=NOW).rows


def one(expression: str) -> Any:
    """The value of a scalar expression, via ``print``."""
    return rows(f"print v = {expression}")[0][0]


# --- sources ----------------------------------------------------------------------------------


def test_print_names_columns_and_computes_values() -> None:
    """``print`` yields one row; unnamed expressions become print_0, print_1..."""
    result = run_query("print x = 1 + 2, strcat('a', 'b')", MemorySource({}))
    assert result.columns == ["x", "print_1"]
    assert result.rows == [[3, "ab"]]


def test_datatable_converts_to_declared_types() -> None:
    """``datatable`` rows have the declared types and can be piped like any table."""
    assert rows(f"{EVENTS} | where n > 1 | project name, n") == [["b", 5], ["a", 3], ["b", 2]]


def test_range_counts_inclusive() -> None:
    """``range`` goes from start to end inclusive by step."""
    assert rows("range x from 1 to 7 step 3") == [[1], [4], [7]]


# --- aggregations -------------------------------------------------------------------------------


def test_arg_max_star_keeps_the_whole_latest_row_per_group() -> None:
    """``arg_max(at, *) by name`` keeps each name's latest row with all its columns."""
    result = run_query(f"{EVENTS} | summarize arg_max(at, *) by name", MemorySource({}))
    assert result.columns == ["name", "at", "n", "tags"]
    assert [row[:3] for row in result.rows] == [
        ["a", datetime(2024, 5, 1, 10, 40, tzinfo=timezone.utc), 3],
        ["b", datetime(2024, 5, 1, 11, 10, tzinfo=timezone.utc), 2],
    ]


def test_arg_min_with_listed_columns() -> None:
    """``arg_min(n, at)`` returns the smallest n and that row's at."""
    result = run_query(f"{EVENTS} | summarize arg_min(n, at)", MemorySource({}))
    assert result.columns == ["n", "at"]
    assert result.rows == [[1, datetime(2024, 5, 1, 10, tzinfo=timezone.utc)]]


def test_make_list_make_set_and_legacy_names() -> None:
    """make_list keeps order and repeats, make_set is distinct; makelist/makeset are aliases."""
    result = rows(f"{EVENTS} | summarize make_list(name), makeset(name), makelist(n)")
    assert result == [[["a", "b", "a", "b"], ["a", "b"], [1, 5, 3, 2]]]


def test_percentiles_array_and_legacy_count_predicate() -> None:
    """percentiles_array returns one array; count(predicate) counts the rows where it holds."""
    result = run_query(
        f"{EVENTS} | summarize percentiles_array(n, 50, 100), count(n > 1)", MemorySource({})
    )
    assert result.columns == ["percentiles_n", "count_"]
    assert result.rows == [[[2, 5], 3]]


def test_make_series_fills_empty_bins_with_default() -> None:
    """make-series builds one array per group over the axis, empty bins holding the default."""
    result = run_query(
        f"{EVENTS} | make-series total = sum(n) default = 0 on at"
        " from datetime(2024-05-01T10:00:00Z) to datetime(2024-05-01T12:00:00Z) step 1h by name",
        MemorySource({}),
    )
    assert result.columns == ["name", "total", "at"]
    assert result.rows[0][:2] == ["a", [4, 0]]
    assert result.rows[1][:2] == ["b", [5, 2]]
    assert result.rows[0][2] == [
        datetime(2024, 5, 1, 10, tzinfo=timezone.utc),
        datetime(2024, 5, 1, 11, tzinfo=timezone.utc),
    ]


# --- tabular operators --------------------------------------------------------------------------


def test_mv_expand_and_legacy_mvexpand_expand_arrays_and_bags() -> None:
    """One row per element; a bag expands to one-property bags; an empty array yields no row."""
    expanded = rows(f"{EVENTS} | mv-expand tags | project name, tags")
    assert expanded == [
        ["a", "x"], ["a", "y"], ["b", "z"], ["b", {"k": "v"}], ["b", {"j": "w"}],
    ]  # fmt: skip
    assert rows(f"{EVENTS} | mvexpand tags | count") == [[5]]
    limited = rows(f"{EVENTS} | mv-expand t = tags to typeof(string) limit 1 | project t")
    assert limited == [["x"], ["z"], ['{"k":"v"}']]


def test_parse_simple_and_regex_kinds() -> None:
    """``parse`` extracts typed columns; a row that does not match gets empty values."""
    table = "datatable(m: string) ['Executed fn=Orders in 12 ms', 'noise']"
    simple = rows(f"{table} | parse m with 'Executed fn=' fn ' in ' ms:long ' ms' | project fn, ms")
    assert simple == [["Orders", 12], ["", None]]
    regex = rows(
        f"{table} | parse kind=regex m with @'fn=' fn @'\\s+in\\s+' ms:long | project fn, ms"
    )
    assert regex == [["Orders", 12], ["", None]]


def test_lookup_extends_without_repeating_keys() -> None:
    """``lookup`` is a left outer join that keeps the key once."""
    query = (
        f"{EVENTS} | project name, n | lookup (datatable(name: string, label: string)"
        " ['a', 'alpha']) on name"
    )
    result = run_query(query, MemorySource({}))
    assert result.columns == ["name", "n", "label"]
    assert result.rows == [["a", 1, "alpha"], ["b", 5, ""], ["a", 3, "alpha"], ["b", 2, ""]]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("innerunique", [["a", 1, "a", "A1"], ["a", 1, "a", "A2"]]),
        ("inner", [["a", 1, "a", "A1"], ["a", 1, "a", "A2"], ["a", 3, "a", "A1"],
                   ["a", 3, "a", "A2"]]),
        ("leftouter", [["a", 1, "a", "A1"], ["a", 1, "a", "A2"], ["b", 5, "", ""],
                       ["a", 3, "a", "A1"], ["a", 3, "a", "A2"], ["b", 2, "", ""]]),
        ("leftanti", [["b", 5], ["b", 2]]),
        ("leftsemi", [["a", 1], ["a", 3]]),
        ("rightanti", [["c", "C"]]),
    ],
)  # fmt: skip
def test_join_kinds_with_kusto_default(kind: str, expected: list[list[Any]]) -> None:
    """Each join kind gives Kusto's rows; no kind means innerunique (first left row per key)."""
    right = "(datatable(name: string, v: string) ['a', 'A1', 'a', 'A2', 'c', 'C'])"
    left = f"{EVENTS} | project name, n"
    written = "" if kind == "innerunique" else f"kind={kind} "
    assert rows(f"{left} | join {written}{right} on name") == expected


def test_serialize_prev_next_row_number() -> None:
    """prev/next read neighbouring rows and row_number counts from 1 after serialize."""
    result = rows(
        f"{EVENTS} | serialize | extend r = row_number(), p = prev(n), q = next(n, 1, -1)"
        " | project r, n, p, q"
    )
    assert result == [[1, 1, None, 5], [2, 5, 1, 3], [3, 3, 5, 2], [4, 2, 3, -1]]


def test_bag_unpack_makes_a_column_per_key() -> None:
    """``evaluate bag_unpack`` replaces the bag column by one column per key."""
    table = "datatable(id: long, bag: dynamic) [1, dynamic({'a': 1}), 2, dynamic({'b': 'x'})]"
    result = run_query(f"{table} | evaluate bag_unpack(bag)", MemorySource({}))
    assert result.columns == ["id", "a", "b"]
    assert result.rows == [[1, 1, None], [2, None, "x"]]


def test_let_tables_toscalar_and_in_tabular(source: TableSource) -> None:
    """A let-bound table, ``in (table)``, ``in (subquery)`` and ``toscalar`` all filter alike."""
    failed = {r["operation_Id"] for r in REQUESTS if not r["success"]}
    expected = sorted(t["message"] for t in TRACES if t["operation_Id"] in failed)
    queries = [
        "let bad = requests | where success == false | project operation_Id;"
        " traces | where operation_Id in (bad) | project message",
        "traces | where operation_Id in ((requests | where success == false"
        " | project operation_Id)) | project message",
        "traces | where operation_Id in (requests | where success == false"
        " | project operation_Id) | project message",
    ]
    for query in queries:
        assert sorted(row[0] for row in rows(query, source)) == expected, query
    slowest = max(r["duration"] for r in REQUESTS)
    assert rows(
        "let top1 = toscalar(requests | summarize max(duration));"
        " requests | where duration == top1 | project duration",
        source,
    ) == [[slowest]]


# --- string operators ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'Hello World' has_any ('world', 'nope')", True),
        ("'Hello World' has_all ('hello', 'world')", True),
        ("'Hello World' has_all ('hello', 'wor')", False),
        ("'Hello World' hasprefix 'wor'", True),
        ("'Hello World' hasprefix 'orld'", False),
        ("'Hello World' hassuffix 'rld'", True),
        ("'Hello World' !hassuffix 'rld'", False),
        ("'Hello World' hasprefix_cs 'wor'", False),
        ("'Hello World' has_cs 'World'", True),
        ("'Hello World' !has_cs 'world'", True),
        ("'Hello World' contains_cs 'lo W'", True),
        ("'Hello World' !contains_cs 'lo w'", True),
        ("'Hello World' !contains 'LO W'", False),
        ("'Hello World' startswith_cs 'hello'", False),
        ("'Hello World' !startswith 'hello'", False),
        ("'Hello World' endswith_cs 'World'", True),
        ("'Hello World' !endswith_cs 'world'", True),
        ("'Hello' in~ ('HELLO', 'x')", True),
        ("'Hello' !in~ ('HELLO', 'x')", False),
        ("'Hello' =~ 'hello'", True),
        ("'Hello' !~ 'hello'", False),
    ],
)
def test_string_operators(expression: str, expected: bool) -> None:
    """Term, prefix/suffix, negated and case-sensitive string operators match as in Kusto."""
    assert one(expression) is expected


# --- scalar functions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("isnotempty('')", False),
        ("notempty('x')", True),
        ("isempty('')", True),
        ("isnull(int(null))", True),
        ("datetime_add('month', 1, datetime(2024-01-31))", datetime(2024, 2, 29, tzinfo=UTC)),
        ("datetime_add('hour', -2, datetime(2024-01-01))", datetime(2023, 12, 31, 22, tzinfo=UTC)),
        ("datetime_diff('day', datetime(2024-01-03), datetime(2024-01-01 23:00))", 2),
        ("datetime_diff('month', datetime(2024-03-01), datetime(2023-12-31))", 3),
        ("datetime_diff('second', datetime(2024-01-01 00:01), datetime(2024-01-01))", 60),
        ("format_datetime(datetime(2024-05-01 13:04:05.123), 'yyyy-MM-dd HH:mm:ss.fff')",
         "2024-05-01 13:04:05.123"),
        ("format_datetime(datetime(2024-05-01 13:04:05), 'M/d/yy h:mm tt')", "5/1/24 1:04 PM"),
        ("startofday(datetime(2024-05-01 13:04))", datetime(2024, 5, 1, tzinfo=timezone.utc)),
        ("dayofweek(datetime(2024-05-01))", timedelta(days=3)),
        ("todatetime('2024-05-01T10:00:00Z')", datetime(2024, 5, 1, 10, tzinfo=timezone.utc)),
        ("totimespan('00:01:30')", timedelta(seconds=90)),
        ("trim(' ', '  x  ')", "x"),
        ("trim_start('-+', '--x-')", "x-"),
        ("trim_end(@'\\d', 'ab12')", "ab"),
        ("replace_regex('abc123', @'(\\d+)', @'<\\1>')", "abc<123>"),
        ("split('a,b,c', ',')", ["a", "b", "c"]),
        ("split('a,b,c', ',', 1)", ["b"]),
        ("strcat('a', 1, true)", "a1true"),
        ("substring('Hello', 1, 3)", "ell"),
        ("indexof('Hello', 'l')", 2),
        ("extract(@'(\\d+) ms', 1, 'took 42 ms')", "42"),
        ("extract(@'(\\d+) ms', 1, 'no match')", ""),
        ("extract_all(@'(\\d+)', 'a1b22c333')", ["1", "22", "333"]),
        ("extract_all(@'(\\w)=(\\d)', 'a=1 b=2')", [["a", "1"], ["b", "2"]]),
        ("bag_keys(dynamic({'a': 1, 'b': 2}))", ["a", "b"]),
        ("bag_pack('k', 1)", {"k": 1}),
    ],
)  # fmt: skip
def test_scalar_functions(expression: str, expected: Any) -> None:
    """Each function returns Kusto's value for a hand-worked input."""
    assert one(expression) == expected


def test_unknown_function_in_summarize_names_it() -> None:
    """A misspelt aggregation is named rather than reported as a missing aggregation."""
    with pytest.raises(KqlError, match="unknown aggregation function 'countt'"):
        rows(f"{EVENTS} | summarize countt()")


def test_window_function_outside_extend_is_an_error() -> None:
    """prev() where rows are not serialized is an error naming the fix."""
    with pytest.raises(KqlError, match="prev"):
        rows(f"{EVENTS} | where prev(n) > 1")


def test_any_column_predicates_and_search(source: TableSource) -> None:
    """``* has``/``* contains`` test every column; ``search`` does so across tables."""
    timeouts = [t for t in TRACES if "timeout" in t["message"].lower()]
    assert rows("traces | where * has 'timeout' | count", source) == [[len(timeouts)]]
    assert rows("traces | where * !contains 'TIMEOUT' | count", source) == [
        [len(TRACES) - len(timeouts)]
    ]
    searched = run_query("search in (traces, exceptions) 'timeout' | project $table", source)
    assert searched.columns == ["$table"]
    assert sorted(row[0] for row in searched.rows) == ["exceptions", "traces"]
    assert rows("traces | search 'Executing' and 'HttpTrigger' | count", source) == [[2]]
    assert rows("traces | search 'Execut*' | count", source) == [[2]]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("parse_url('https://u:p@host.example:8080/a/b?k=v&x=1#frag').Host", "host.example"),
        ("parse_url('https://host.example:8080/a/b?k=v&x=1#frag').Port", "8080"),
        ("parse_url('https://host.example/a/b?k=v&x=1#frag')['Query Parameters'].x", "1"),
        ("parse_url('https://host.example/a/b?k=v').Path", "/a/b"),
        ("url_decode('a%20b%2Bc')", "a b+c"),
        ("url_encode('a b/c')", "a%20b%2Fc"),
        ("base64_encode_tostring('Kusto')", "S3VzdG8="),
        ("base64_decode_tostring('S3VzdG8=')", "Kusto"),
        ("format_timespan(time(1.02:03:04.5), 'd.hh:mm:ss.f')", "1.02:03:04.5"),
        ("format_timespan(time(0:01:05), 'mm:ss')", "01:05"),
        ("todecimal('1.5')", 1.5),
        ("toguid('00000000-0000-0000-0000-000000000001')", "00000000-0000-0000-0000-000000000001"),
    ],
)
def test_url_encoding_and_timespan_functions(expression: str, expected: Any) -> None:
    """URL parts, URL and base64 encodings and timespan formatting give Kusto's values."""
    assert one(expression) == expected


def test_let_materialize_binds_a_table(source: TableSource) -> None:
    """``let x = materialize(query);`` binds the query's table."""
    query = "let ok = materialize(requests | where success == true); ok | count"
    assert rows(query, source) == [[sum(1 for r in REQUESTS if r["success"])]]


def test_column_patterns_project_keep_and_getschema() -> None:
    """project-away/keep/reorder accept ``*`` patterns; getschema lists names and types."""
    base = f"{EVENTS} | project name, n, at, tags"
    assert run_query(f"{base} | project-away n, t*", MemorySource({})).columns == ["name", "at"]
    assert run_query(f"{base} | project-keep *a*", MemorySource({})).columns == [
        "name", "at", "tags",
    ]  # fmt: skip
    assert run_query(f"{base} | project-reorder t*, n", MemorySource({})).columns == [
        "tags", "n", "name", "at",
    ]  # fmt: skip
    schema = rows(f"{base} | getschema")
    assert schema == [
        ["name", 0, "System.String", "string"],
        ["n", 1, "System.Int64", "long"],
        ["at", 2, "System.DateTime", "datetime"],
        ["tags", 3, "System.Object", "dynamic"],
    ]
