"""The endpoint's shortcuts (items read one by one, short items not measured, the usual time
format parsed directly) give exactly the verdicts of the plain rules."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from azfunc_telemetry.ingestion import (
    MAX_ITEM_BYTES,
    IngestionError,
    check_items,
    parse_sized_items,
)
from azfunc_telemetry.ingestion.protocol import _parse_time, parse_envelope_time

IKEY = "00000000-0000-0000-0000-000000000000"
NOW = datetime.now(timezone.utc)


def item(message: str, *, when: datetime = NOW, ikey: str = IKEY) -> dict[str, object]:
    """A message envelope stamped ``when``."""
    return {
        "iKey": ikey,
        "name": "Microsoft.ApplicationInsights.Message",
        "time": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": {"baseType": "MessageData", "baseData": {"ver": 2, "message": message}},
    }


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        " [ ] ",
        '[{"a": 1}]',
        '\n[ {"a": [1, 2, {"b": "c"}]} ,\t{"d": "\\u00e9\\ud83d\\ude00"} ]\n',
        '[{"a": 1e15, "b": NaN}]',
        '{"a": 1}',
        '[{"a": 1},]',
        '[{"a": 1}] x',
        '{"a": 1}\n{"b": 2}\n',
    ],
)
def test_items_read_one_by_one_are_what_json_reads(text: str) -> None:
    """Reading an array element by element yields the items json.loads (or the NDJSON
    fallback) yields, and each length is that element's text."""
    headers = {"Content-Type": "application/json"}
    try:
        expected = json.loads(text)
        expected = expected if isinstance(expected, list) else [expected]
    except json.JSONDecodeError:
        try:
            expected = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            with pytest.raises(IngestionError):
                parse_sized_items(text.encode(), headers)
            return
    items, lengths = parse_sized_items(text.encode(), headers)
    assert json.dumps(items) == json.dumps(expected)
    if lengths is not None:
        assert len(lengths) == len(items)
        assert all(length > 0 for length in lengths)


def test_short_items_skip_measuring_but_long_ones_are_still_rejected() -> None:
    """An item over 64 kB is rejected with or without text lengths; short ones pass both ways."""
    items = [item("short"), item("x" * (MAX_ITEM_BYTES + 10)), item("\U0001f600" * 6000)]
    body = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()
    parsed, lengths = parse_sized_items(body, {})
    assert lengths is not None
    plain = check_items(parsed, ikeys=frozenset([IKEY]), now=NOW)
    fast = check_items(parsed, ikeys=frozenset([IKEY]), now=NOW, text_lengths=lengths)
    assert plain == fast
    assert [error["index"] for error in fast[1]] == [1, 2]


def test_ikey_verdicts_are_the_same_when_remembered() -> None:
    """A key's verdict (exact, other case, malformed, unknown) does not change on repeat."""
    keys = frozenset([IKEY])
    for ikey in (IKEY, IKEY.upper(), "not-a-guid", "11111111-1111-1111-1111-111111111111"):
        first = check_items([item("m", ikey=ikey)], ikeys=keys, now=NOW)
        again = check_items([item("m", ikey=ikey)], ikeys=keys, now=NOW)
        assert first == again
        assert (first[0] != []) == (ikey.lower() == IKEY)


def test_usual_time_format_parses_as_the_general_rule() -> None:
    """The direct parse of ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` agrees with the general parser,
    and odd texts of the same length still go through the general rule."""
    for hours in range(-60, 5):
        moment = NOW + timedelta(hours=hours, microseconds=hours * 7919)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert _parse_time(text) == parse_envelope_time(text)
    with pytest.raises(ValueError, match="not an ISO-8601"):
        _parse_time("2026-12-02T11:20:33.123+01Z")
