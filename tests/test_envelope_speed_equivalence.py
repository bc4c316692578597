"""The export thread's shortcuts change nothing that is sent.

Log envelopes take their properties from memos, the request body is written from remembered
pieces, and timestamps are formatted without ``strftime``. Each shortcut is checked here against
the plain way of getting the same result, on the awkward inputs where a memo could mix things up:
values equal in Python but not as text (``1``, ``True``, ``1.0``), properties that collide, too
many properties, secrets, and envelopes the builder did not make.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from azfunc_telemetry.capture.context import InvocationContext
from azfunc_telemetry.export import Envelope
from azfunc_telemetry.export.appinsights import envelope as envelope_module
from azfunc_telemetry.export.appinsights.body import serialize_batch
from azfunc_telemetry.export.appinsights.envelope import EnvelopeBuilder, format_time
from azfunc_telemetry.model import scrubbing as sanitize
from azfunc_telemetry.model.dimensions import MEMO_MAX, record_properties
from azfunc_telemetry.model.scrubbing import MAX_PROPERTIES, REDACTED, Scrubber, safe_str

CONTEXT = InvocationContext(
    invocation_id="inv-1",
    function_name="orders",
    operation_id="4bf92f3577b34da6a3ce929d0e0e4736",
    parent_id="00f067aa0ba902b7",
    request_id="00f067aa0ba902b7",
)
OTHER_CONTEXT = CONTEXT._replace(invocation_id="inv-2", operation_id="other-operation")


def make_builder(*patterns: str) -> EnvelopeBuilder:
    """A builder as the pipeline makes one, with its own scrubber."""
    return EnvelopeBuilder(
        "ikey", cloud_role="app", cloud_role_instance="host-0", scrubber=Scrubber(patterns)
    )


def make_record(text: str = "order %s done", /, **extra: Any) -> logging.LogRecord:
    """A record as ``logger.info(text, "A-77", extra=extra)`` makes it (``lineno`` in ``extra``
    sets its line number instead)."""
    lineno = extra.pop("lineno", 42)
    record = logging.LogRecord(
        "app.orders", logging.INFO, "/srv/app/orders.py", lineno, text, ("A-77",), None
    )
    record.__dict__.update(extra)
    return record


def plain_properties(
    builder: EnvelopeBuilder, record: logging.LogRecord, context: InvocationContext | None
) -> dict[str, str]:
    """The properties as cleaned without any memo: every record dimension, then the limits."""
    return Scrubber().properties(record_properties(record, context))


def log_properties(
    builder: EnvelopeBuilder, record: logging.LogRecord, context: InvocationContext | None
) -> dict[str, str]:
    """The properties of the envelope the builder makes for ``record``."""
    envelope = builder.log(record, context, record.getMessage())
    properties: dict[str, str] = envelope["data"]["baseData"]["properties"]
    return properties


def reference_body(envelopes: list[Any]) -> bytes:
    """The request body as ``json.dumps`` writes it: what the endpoint has always received."""
    text = json.dumps(
        envelopes, ensure_ascii=False, default=safe_str, check_circular=False, separators=(",", ":")
    )
    return text.encode("utf-8", "replace")


def same_in_order(left: dict[str, str], right: dict[str, str]) -> bool:
    """Equal, names in the same order (the order they are sent in)."""
    return list(left.items()) == list(right.items())


# -- log properties --------------------------------------------------------------------------


RECORDS: list[tuple[str, Callable[[], logging.LogRecord]]] = [
    ("no extra", lambda: make_record()),
    ("extra", lambda: make_record(customer_id="c-1042", items=3, region="westeurope")),
    ("extra names a first property", lambda: make_record(level="custom", line_number=7)),
    ("extra repeats the invocation", lambda: make_record(invocation_id="inv-1")),
    (
        "custom_dimensions",
        lambda: make_record(custom_dimensions={"tenant": "t-1", "count": 2}),
    ),
    (
        "custom_dimensions repeats an extra",
        lambda: make_record(region="a", custom_dimensions={"region": "b", "zone": "z"}),
    ),
    ("custom_dimensions names not text", lambda: make_record(custom_dimensions={1: "a", 2: "b"})),
    (
        "custom_dimensions names equal as text",
        lambda: make_record(custom_dimensions={1: "int", "1": "str"}),
    ),
    (
        "names cut to the same text",
        lambda: make_record(**{"k" * 160 + "a": "first", "k" * 160 + "b": "second"}),
    ),
    (
        "a cut name given again in custom_dimensions",
        lambda: make_record(
            **{"k" * 160 + "a": "first", "k" * 160 + "b": "second"},
            custom_dimensions={"k" * 160 + "a": "third"},
        ),
    ),
    ("too many", lambda: make_record(**{f"field_{index}": index for index in range(250)})),
    ("just within the limit", lambda: make_record(**{f"f{index}": "v" for index in range(194)})),
    ("values of every kind", lambda: make_record(a=None, b=b"\xff", c=[1, "x"], d={"k": 1.5})),
    ("secret values", lambda: make_record(url="https://x/api?code=FnKey123", note="Pwd=hunter2")),
    ("secret names", lambda: make_record(password=1234, api_key="plain", token="")),
    ("a formatter has run", lambda: make_record(message="x", asctime="now", taskName="t")),
]


@pytest.mark.parametrize(("case", "factory"), RECORDS, ids=[case for case, _ in RECORDS])
@pytest.mark.parametrize("context", [CONTEXT, None], ids=["in an invocation", "outside"])
def test_log_properties_match_the_plain_path(
    case: str, factory: Callable[[], logging.LogRecord], context: InvocationContext | None
) -> None:
    """Memoised log properties equal the plain ones, in order, first time and when repeated."""
    builder = make_builder()
    for _ in range(3):
        record = factory()
        expected = plain_properties(builder, record, context)
        assert same_in_order(log_properties(builder, record, context), expected), case


def test_equal_values_that_differ_as_text_are_not_mixed_up() -> None:
    """1, True and 1.0 are equal in Python but are sent as "1", "true" and "1.0"."""
    builder = make_builder()
    texts = [
        log_properties(builder, make_record(flag=value), CONTEXT)["flag"]
        for value in (1, True, 1.0, 1, False, 0, 0.0)
    ]
    assert texts == ["1", "true", "1.0", "1", "false", "0", "0.0"]


def test_line_numbers_that_are_not_ints_are_not_mixed_up() -> None:
    """A record factory's ``lineno`` of True is sent as "true", not as a remembered line 1."""
    builder = make_builder()
    first = log_properties(builder, make_record(lineno=1), CONTEXT)
    odd = make_record(lineno=1)
    odd.lineno = True
    assert first["line_number"] == "1"
    assert log_properties(builder, odd, CONTEXT)["line_number"] == "true"
    assert log_properties(builder, make_record(lineno=1), CONTEXT)["line_number"] == "1"


def test_operation_ids_that_are_not_text_are_not_mixed_up() -> None:
    """Tags keep the very values given: an operation id of 1 and one of True stay apart."""
    builder = make_builder()
    ids = []
    for operation_id in (1, True, 1, True):
        context = CONTEXT._replace(operation_id=operation_id)  # type: ignore[arg-type]
        ids.append(builder.log(make_record(), context, "m")["tags"]["ai.operation.id"])
    assert [type(value) for value in ids] == [int, bool, int, bool]


def test_extra_names_equal_in_python_but_not_as_text() -> None:
    """Records whose extra names are 1 and True (the same dict key) keep the name they have."""
    builder = make_builder()
    first = make_record()
    first.__dict__[1] = "one"  # type: ignore[index]
    second = make_record()
    second.__dict__[True] = "true"  # type: ignore[index]
    assert log_properties(builder, first, CONTEXT)["1"] == "one"
    assert log_properties(builder, second, CONTEXT)["True"] == "true"
    assert "1" not in log_properties(builder, second, CONTEXT)


def test_invocations_and_call_sites_keep_their_own_properties() -> None:
    """Interleaved invocations and lines each get their own ids and line numbers."""
    builder = make_builder()
    seen = []
    for context in (CONTEXT, OTHER_CONTEXT, None, CONTEXT):
        for lineno in (10, 20):
            properties = log_properties(builder, make_record(lineno=lineno), context)
            seen.append((properties.get("invocation_id"), properties["line_number"]))
    assert seen == [
        ("inv-1", "10"),
        ("inv-1", "20"),
        ("inv-2", "10"),
        ("inv-2", "20"),
        (None, "10"),
        (None, "20"),
        ("inv-1", "10"),
        ("inv-1", "20"),
    ]


def test_secrets_stay_scrubbed_when_values_repeat() -> None:
    """A secret is redacted every time it is logged, and under a secret name whatever its kind."""
    builder = make_builder(r"(customer-number=)\d+")
    for _ in range(3):
        properties = log_properties(
            builder,
            make_record(pin=1234, password=1234, note="customer-number=77", client_secret="x"),
            CONTEXT,
        )
        assert properties["pin"] == "1234"
        assert properties["password"] == REDACTED
        assert properties["note"] == f"customer-number={REDACTED}"
        assert properties["client_secret"] == REDACTED


def test_changing_an_envelope_leaves_later_ones_alone() -> None:
    """Tags and properties handed out are copies: cutting one envelope cannot change another."""
    builder = make_builder()
    for extra in ({}, {"region": "a"}):
        first = builder.log(make_record(**extra), CONTEXT, "first")
        first["tags"]["ai.operation.id"] = "changed"
        for name in ("invocation_id", "level", *extra):
            first["data"]["baseData"]["properties"][name] = "changed"
        second = builder.log(make_record(**extra), CONTEXT, "second")
        properties = second["data"]["baseData"]["properties"]
        assert second["tags"]["ai.operation.id"] == CONTEXT.operation_id
        assert properties == plain_properties(builder, make_record(**extra), CONTEXT)
        second["data"]["baseData"]["properties"]["added"] = "x"
        third = builder.log(make_record(**extra), CONTEXT, "third")
        assert "added" not in third["data"]["baseData"]["properties"]


def test_memos_stay_bounded() -> None:
    """Many invocations, call sites and record shapes never grow the memos past their bound."""
    builder = make_builder()
    bound = MEMO_MAX
    for index in range(bound + 50):
        context = CONTEXT._replace(invocation_id=f"inv-{index}", operation_id=f"op-{index}")
        builder.log(make_record(lineno=index, **{f"field_{index}": index}), context, "m")
    assert 0 < len(builder._log_dimensions._head_memo) <= bound
    assert 0 < len(builder._tag_memo) <= bound
    assert 0 < len(builder._log_dimensions._extra_memo) <= bound


def test_cleaned_properties_memo_stays_bounded() -> None:
    """The scrubber remembers at most its bound of cleaned properties, however many it sees."""
    scrubber = Scrubber()
    for index in range(sanitize._CLEANED_MAX + 50):
        for _ in range(2):  # remembered from the second sighting on
            assert scrubber.properties({"order": f"o-{index}", "count": index}) == {
                "order": f"o-{index}",
                "count": str(index),
            }
    assert 0 < len(scrubber._cleaned) <= sanitize._CLEANED_MAX
    assert len(scrubber._seen_once) <= sanitize._CLEANED_MAX


def test_one_off_values_do_not_evict_repeating_pairs() -> None:
    """Pairs seen once (order numbers) never displace the pairs that repeat on every record."""
    scrubber = Scrubber()
    for _ in range(2):
        scrubber.properties({"region": "westeurope"})
    for index in range(sanitize._CLEANED_MAX * 3):
        assert scrubber.properties({"order": f"o-{index}"}) == {"order": f"o-{index}"}
    assert ("region", "westeurope") in scrubber._cleaned
    assert len(scrubber._seen_once) <= sanitize._CLEANED_MAX
    records = [make_record(order_id=f"o-{index}", region="westeurope") for index in range(9000)]
    builder = make_builder()
    envelopes = [builder.log(record, CONTEXT, record.getMessage()) for record in records]
    assert serialize_batch(envelopes) == reference_body(envelopes)


def test_oversized_records_are_still_cut() -> None:
    """A record too large for one item is cut to the limit exactly as before the shortcuts."""
    builder = make_builder()
    record = make_record(big="x" * 8000, other="y" * 8000, more="z" * 8000)
    envelope = builder.log(record, CONTEXT, "m" * 40_000)
    base = envelope["data"]["baseData"]
    assert len(json.dumps(envelope)) <= envelope_module._ITEM_BUDGET
    assert "[truncated" in base["message"] or "_truncated_properties" in base["properties"]


# -- request body ----------------------------------------------------------------------------


def built_envelopes() -> list[Envelope]:
    """Log envelopes of every shape the builder makes, text of every kind included."""
    builder = make_builder()
    records = [factory() for _, factory in RECORDS]
    records.append(make_record('%s naïve ☃ \U0001f600 "quoted" \\ \n\t \x01 \u2028'))
    records.append(make_record("%s lone \udc80 surrogate", note="also \ud800 here"))
    envelopes = []
    for record in records * 2:
        for context in (CONTEXT, None):
            envelopes.append(builder.log(record, context, record.getMessage()))
    return envelopes


def test_body_matches_json_dumps_for_built_envelopes() -> None:
    """Log envelopes are written byte for byte as json.dumps writes them."""
    envelopes = built_envelopes()
    assert serialize_batch(envelopes) == reference_body(envelopes)
    assert serialize_batch(envelopes) == reference_body(envelopes)  # from the remembered pieces
    assert serialize_batch([]) == b"[]"


def odd_envelopes() -> list[Any]:
    """Envelopes the builder would not make, each changed in one way from a built one."""
    changes: list[Callable[[Envelope], None]] = [
        lambda e: e["data"]["baseData"]["properties"].update(count=1),
        lambda e: e["data"]["baseData"]["properties"].update(flag=True),
        lambda e: e["data"]["baseData"]["properties"].update(ratio=float("nan")),
        lambda e: e["data"]["baseData"]["properties"].update(items=[1, 2]),
        lambda e: e["data"]["baseData"]["properties"].update({1: "int name"}),
        lambda e: e["data"]["baseData"]["properties"].update(thing=object()),
        lambda e: e["tags"].update({"ai.custom": 5}),
        lambda e: e.update(tags=None),
        lambda e: e.update(tags=OrderedDict(e["tags"])),
        lambda e: e["data"]["baseData"].update(ver=True),
        lambda e: e["data"]["baseData"].update(severityLevel=1.0),
        lambda e: e["data"]["baseData"].update(message=None),
        lambda e: e["data"].update(baseType=7),
        lambda e: e.update(iKey=None),
        lambda e: e.update(extra="field"),
        lambda e: e.pop("time"),
        lambda e: e["data"]["baseData"].pop("ver"),
    ]
    envelopes: list[Any] = []
    for change in changes:
        envelope = make_builder().log(make_record(region="a"), CONTEXT, "m")
        change(envelope)
        envelopes.append(envelope)
    reordered = make_builder().log(make_record(), CONTEXT, "m")
    envelopes.append(dict(reversed(list(reordered.items()))))
    envelopes.append(["not", "an", "envelope"])
    return envelopes


def test_body_matches_json_dumps_for_other_envelopes() -> None:
    """Envelopes from elsewhere (local storage, other exporters) are written as json.dumps does."""
    envelopes = odd_envelopes()
    assert serialize_batch(envelopes) == reference_body(envelopes)
    for envelope in envelopes:
        assert serialize_batch([envelope]) == reference_body([envelope])


def test_body_keeps_equal_values_apart() -> None:
    """Tag and property values 1, True and "1" under one name are each written as themselves."""
    envelopes = []
    for value in ("1", 1, True, 1.0, "1", 0, False):
        for where in ("tags", "properties"):
            envelope = make_builder().log(make_record(), CONTEXT, "m")
            if where == "tags":
                envelope["tags"]["ai.value"] = value
            else:
                envelope["data"]["baseData"]["properties"]["value"] = value
            envelopes.append(envelope)
    assert serialize_batch(envelopes) == reference_body(envelopes)


# -- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "epoch_s",
    [
        0.0,
        0.5e-6,
        1.5e-6,
        2.5e-6,
        0.9999995,
        1_700_000_000.25,
        1_763_966_400.9999996,
        1_763_966_400.0000005,
        -0.4e-6,
        -1.0000005,
        float(sys.maxsize // 10**10),
    ],
)
def test_time_matches_datetime(epoch_s: float) -> None:
    """Timestamps round and read exactly as datetime formats them, on both sides of a second."""
    expected = datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert format_time(epoch_s) == expected
    assert format_time(epoch_s) == expected  # the second's text remembered


def test_properties_over_the_limit_are_counted() -> None:
    """More than the service's limit of properties: the rest are dropped and counted."""
    builder = make_builder()
    properties = log_properties(
        builder, make_record(**{f"field_{index:03d}": index for index in range(250)}), CONTEXT
    )
    assert len(properties) == MAX_PROPERTIES + 1
    assert properties["_truncated_properties"] == str(10 + 250 - MAX_PROPERTIES)  # 6 + 4 host dims
