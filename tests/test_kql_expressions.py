"""Scalar expressions of the local KQL engine: literals, operators, functions and null rules."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from azfunc_telemetry.local.kql import KqlError, run_query

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
ROW: dict[str, Any] = {
    "s": "Hello World-42",
    "n": 5,
    "r": 2.5,
    "b": True,
    "t": T0,
    "span": timedelta(minutes=1),
    "dims": {"invocation_id": "inv-1", "count": "3", "weird key": "w"},
    "items": [10, 20, 30],
    "empty": "",
    "missing": None,
}


class OneRowSource:
    """A source holding table ``T`` with the rows given (one row of every kind by default)."""

    def __init__(self, rows: list[dict[str, Any]] | None = None) -> None:
        self.table_rows = rows if rows is not None else [ROW]

    def columns(self, table: str) -> tuple[str, ...]:
        if table != "T":
            raise KeyError(table)
        return tuple(ROW)

    def rows(self, table: str) -> list[dict[str, Any]]:
        return [dict(row) for row in self.table_rows]


def value(expression: str) -> Any:
    """Evaluate ``expression`` against the single fixture row."""
    result = run_query(f"T | project v = {expression}", OneRowSource(), now=T0)
    return result.rows[0][0]


# --- literals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'single'", "single"),
        ('"double"', "double"),
        (r'"tab\tquote\"back\\slash"', 'tab\tquote"back\\slash'),
        (r"'it\'s'", "it's"),
        (r"'caf\u00e9'", "café"),
        (r'@"C:\path"', "C:\\path"),
        ("42", 42),
        ("-7", -7),
        ("2.5e2", 250.0),
        ("true", True),
        ("false", False),
        ("1m", timedelta(minutes=1)),
        ("5s", timedelta(seconds=5)),
        ("100ms", timedelta(milliseconds=100)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1.5h", timedelta(minutes=90)),
        ("timespan(00:01:30)", timedelta(seconds=90)),
        ("timespan(1.02:00:00)", timedelta(days=1, hours=2)),
        ("datetime(2024-01-01T00:00:00Z)", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("datetime(2024-01-01 10:30)", datetime(2024, 1, 1, 10, 30, tzinfo=timezone.utc)),
        ("datetime(2024-01-01T02:00:00+02:00)", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("datetime(2024-01-01T00:00:00.1234567Z)",
         datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=timezone.utc)),
        ("datetime(null)", None),
        ('dynamic({"a": [1, -2, "x"], "b": null})', {"a": [1, -2, "x"], "b": None}),
        ("int(null)", None),
    ],
)  # fmt: skip
def test_literals(expression: str, expected: Any) -> None:
    """Each literal form decodes to the matching Python value."""
    assert value(expression) == expected


# --- column references and dynamic access -------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("dims.invocation_id", "inv-1"),
        ('dims["invocation_id"]', "inv-1"),
        ("dims['invocation_id']", "inv-1"),
        ("dims['weird key']", "w"),
        ("dims.absent", None),
        ("dims['absent']", None),
        ("items[1]", 20),
        ("items[-1]", 30),
        ("items[5]", None),
        ("s.anything", None),
        ("['s']", "Hello World-42"),
    ],
)
def test_dynamic_access(expression: str, expected: Any) -> None:
    """Property and index access on dynamic values; a missing key or index is null."""
    assert value(expression) == expected


# --- arithmetic ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("n + 1", 6),
        ("n - 7", -2),
        ("n * r", 12.5),
        ("n / 2", 2),
        ("-n / 2", -2),
        ("n / 2.0", 2.5),
        ("n % 3", 2),
        ("n / 0", None),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("t - datetime(2024-05-01T11:00:00Z)", timedelta(hours=1)),
        ("t + 1h", T0 + timedelta(hours=1)),
        ("t - 30s", T0 - timedelta(seconds=30)),
        ("span * 2", timedelta(minutes=2)),
        ("span / 2", timedelta(seconds=30)),
        ("span / 1s", 60.0),
        ("-span", timedelta(minutes=-1)),
        ("missing + 1", None),
    ],
)
def test_arithmetic(expression: str, expected: Any) -> None:
    """Kusto arithmetic: long division truncates, datetime minus datetime is a timespan."""
    assert value(expression) == expected


def test_real_division_by_zero_is_infinite() -> None:
    """Dividing a real by zero gives infinity rather than an error."""
    assert math.isinf(value("r / 0"))


# --- comparisons and logic ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        ("n == 5", True),
        ("n == 5.0", True),
        ("n != 5", False),
        ("n <> 4", True),
        ("n < 6", True),
        ("n <= 5", True),
        ("n > 5", False),
        ("n >= 6", False),
        ("s == 'Hello World-42'", True),
        ("s == 'hello world-42'", False),
        ("s != 'x'", True),
        ("s =~ 'HELLO world-42'", True),
        ("s !~ 'HELLO world-42'", False),
        ("t > datetime(2024-05-01)", True),
        ("span >= 60s", True),
        ("b == true", True),
        ("s contains 'WORLD'", True),
        ("s !contains 'WORLD'", False),
        ("s contains_cs 'WORLD'", False),
        ("s !contains_cs 'WORLD'", True),
        ("s has 'world'", True),
        ("s has 'wor'", False),
        ("s has '42'", True),
        ("s has 'world-42'", True),
        ("s !has 'wor'", True),
        ("s has_cs 'world'", False),
        ("s startswith 'hello'", True),
        ("s !startswith 'hello'", False),
        ("s startswith_cs 'hello'", False),
        ("s endswith '-42'", True),
        ("s !endswith '-42'", False),
        ("s matches regex '^H.*\\\\d+$'", True),
        ("n in (1, 5, 9)", True),
        ("n !in (1, 5, 9)", False),
        ("s in ('hello world-42')", False),
        ("s in~ ('hello world-42')", True),
        ("s !in~ ('hello world-42')", False),
        ("n in (dynamic([4, 5]))", True),
        ("n between (1 .. 5)", True),
        ("n between (6 .. 9)", False),
        ("n !between (6 .. 9)", True),
        ("t between (datetime(2024-05-01T11:59:00Z) .. 1m)", True),
        ("n > 1 and r < 3", True),
        ("n > 9 or r < 3", True),
        ("not(n > 1)", False),
        ("not(b)", False),
    ],
)
def test_comparison_and_string_operators(predicate: str, expected: bool) -> None:
    """Each comparison and string operator follows Kusto's case rules."""
    assert value(predicate) is expected


@pytest.mark.parametrize("predicate", ["missing < 1", "dims.count > 0", "missing >= 0"])
def test_ordering_comparisons_with_null_or_mismatched_kinds_are_null(predicate: str) -> None:
    """Ordering comparisons with null or across kinds are null, so ``where`` drops the row."""
    assert value(predicate) is None
    assert run_query(f"T | where {predicate}", OneRowSource()).rows == []


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        ("missing == 1", False),
        ("missing != 1", True),
        ("dims.absent == 'x'", False),
        ("dims.absent != 'x'", True),
        ("n == '5'", False),
        ("n != '5'", True),
        ("missing in (1, 2)", False),
        ("missing !in (1, 2)", True),
    ],
)
def test_equality_with_null_is_false_and_inequality_true(predicate: str, expected: bool) -> None:
    """As in Kusto, null (or another kind) never equals a value, so ``!=`` keeps the row."""
    assert value(predicate) is expected
    assert len(run_query(f"T | where {predicate}", OneRowSource()).rows) == int(expected)


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        ("missing < 1 and false", False),
        ("missing < 1 or true", True),
        ("missing < 1 and true", None),
        ("missing < 1 or false", None),
    ],
)
def test_three_valued_logic(predicate: str, expected: bool | None) -> None:
    """``and``/``or`` with a null operand follow three-valued logic."""
    assert value(predicate) is expected


def test_string_operators_on_missing_dimension_treat_it_as_empty() -> None:
    """A missing dimension behaves as an empty string for string operators."""
    assert value("dims.absent contains 'x'") is False
    assert value("dims.absent !contains 'x'") is True


# --- functions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("ago(1h)", T0 - timedelta(hours=1)),
        ("now()", T0),
        ("tostring(n)", "5"),
        ("tostring(r)", "2.5"),
        ("tostring(b)", "true"),
        ("tostring(t)", "2024-05-01T12:00:00Z"),
        ("tostring(span)", "00:01:00"),
        ("tostring(dims.count)", "3"),
        ("tostring(missing)", ""),
        ("toint(dims.count)", 3),
        ("toint('abc')", None),
        ("toint(2.9)", 2),
        ("tolong(' 12 ')", 12),
        ("todouble('1.5')", 1.5),
        ("toreal(n)", 5.0),
        ("todouble('x')", None),
        ("tobool('TRUE')", True),
        ("tobool('no')", None),
        ("tobool(0)", False),
        ("todatetime('2024-05-01T12:00:00Z')", T0),
        ("totimespan('00:00:05')", timedelta(seconds=5)),
        ("strlen(s)", 14),
        ("tolower(s)", "hello world-42"),
        ("toupper('abc')", "ABC"),
        ("isempty(empty)", True),
        ("isempty(missing)", True),
        ("isempty(dims.absent)", True),
        ("isempty(s)", False),
        ("isnotempty(s)", True),
        ("isnull(missing)", True),
        ("isnull(empty)", False),
        ("isnotnull(n)", True),
        ("iff(n > 1, 'big', 'small')", "big"),
        ("iif(n > 9, 'big', 'small')", "small"),
        ("iff(missing > 1, 'big', 'small')", "small"),
        ("case(n < 1, 'a', n < 9, 'b', 'c')", "b"),
        ("coalesce(missing, empty, 'fallback')", "fallback"),
        ("strcat('a', n, '-', b)", "a5-true"),
        ("strcat_delim('/', 'a', 'b')", "a/b"),
        ("substring(s, 6, 5)", "World"),
        ("indexof(s, 'World')", 6),
        ("split('a,b,c', ',')", ["a", "b", "c"]),
        ("replace_string(s, 'World', 'There')", "Hello There-42"),
        ("extract('-(\\\\d+)', 1, s)", "42"),
        ("array_length(items)", 3),
        ("parse_json('{\"a\": 1}').a", 1),
        ("bin(17, 5)", 15),
        ("bin(7.5, 2)", 6.0),
        ("bin(t + 90s, 1m)", T0 + timedelta(minutes=1)),
        ("bin(t + 5h, 1d)", datetime(2024, 5, 1, tzinfo=timezone.utc)),
        ("bin(95s, 1m)", timedelta(minutes=1)),
        ("floor(t + 59s, 1m)", T0),
        ("floor(2.7)", 2.0),
        ("ceiling(2.1)", 3.0),
        ("round(2.5)", 3.0),
        ("round(-2.5)", -3.0),
        ("round(3.14159, 2)", 3.14),
        ("abs(-3)", 3),
        ("sqrt(16)", 4.0),
        ("pow(2, 10)", 1024.0),
        ("startofday(t)", datetime(2024, 5, 1, tzinfo=timezone.utc)),
        ("startofday(t, 1)", datetime(2024, 5, 2, tzinfo=timezone.utc)),
        ("startofweek(t)", datetime(2024, 4, 28, tzinfo=timezone.utc)),
        ("startofmonth(t, -5)", datetime(2023, 12, 1, tzinfo=timezone.utc)),
        ("startofyear(t)", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("hourofday(t)", 12),
        ("dayofweek(t)", timedelta(days=3)),
    ],
)
def test_scalar_functions(expression: str, expected: Any) -> None:
    """Each scalar function returns Kusto's result."""
    assert value(expression) == expected


def test_let_scalar_values_are_visible_in_expressions() -> None:
    """A scalar ``let`` can be used like a constant, including in other lets."""
    result = run_query(
        "let base = 10; let limit = base * 2; T | project v = n + limit", OneRowSource()
    )
    assert result.rows == [[25]]


def test_comments_and_newlines_are_ignored() -> None:
    """``//`` comments and line breaks may appear anywhere between tokens."""
    query = """
        T // the table
        | where n == 5   // keep it
        | project
            v = s // a column
    """
    assert run_query(query, OneRowSource()).rows == [["Hello World-42"]]


def test_where_on_each_row_of_mixed_values() -> None:
    """``where`` evaluates per row and keeps only rows whose predicate is true."""
    rows = [dict(ROW, n=number) for number in (1, 5, None, 9)]
    result = run_query("T | where n >= 5 | project n", OneRowSource(rows))
    assert result.rows == [[5], [9]]


def test_arithmetic_on_strings_is_an_error() -> None:
    """Adding strings is rejected (as Kusto does) with a hint to use strcat()/toint()."""
    query = "T | project v = dims.count + 1"
    with pytest.raises(KqlError) as caught:
        run_query(query, OneRowSource())
    assert caught.value.message.startswith("operator '+' cannot be applied to string and long")
    assert "toint()" in caught.value.message
    assert caught.value.position == query.index("+")


@pytest.mark.parametrize(
    ("query", "message", "offending"),
    [
        pytest.param(
            "T | project v = ago(5)",
            "ago() expects a timespan argument, got long",
            "ago",
            id="function-argument-at-the-function-name",
        ),
        pytest.param(
            "T | where n",
            "'where' expects a bool predicate, got long",
            "n",
            id="non-bool-where-predicate-at-the-predicate",
        ),
    ],
)
def test_type_error_names_both_types_and_points_at_the_culprit(
    query: str, message: str, offending: str
) -> None:
    """A wrongly typed function argument or ``where`` predicate is rejected with the expected
    and the actual type, at the function's name or the predicate."""
    with pytest.raises(KqlError) as caught:
        run_query(query, OneRowSource())
    assert caught.value.message == message
    assert caught.value.position == query.index(offending)
