"""The ``function_app.py`` sample inside the real ``azure_functions_runtime`` library.

Run by ``nox -s worker`` on Python 3.13, where the runtime installs from PyPI; skipped elsewhere.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest

pytest.importorskip(
    "azure_functions_runtime",
    reason="not installed here: `nox -s worker` runs these tests on Python 3.13",
)

from runtime_checks import (
    ROUNDS,
    SAMPLES,
    Call,
    assert_host_gets_each_record_once_with_its_invocation,
    assert_runs_where_the_runtime_runs_it,
    by_invocation,
    delivered,
    props,
    succeeded,
)
from worker_host import WorkerHost, http_input, queue_input

from azfunc_telemetry.testing import IngestionEmulator


@pytest.fixture(scope="module")
def host() -> Iterator[WorkerHost]:
    """``samples/v2_app`` indexed and loaded by the v2 runtime, as the worker does."""
    with WorkerHost("azure_functions_runtime", [SAMPLES / "v2_app"]) as running:
        yield running


def test_every_function_loads_and_runs_with_its_records_tagged(
    host: WorkerHost, exporting: IngestionEmulator
) -> None:
    """hello (sync), quote (async), process_order (queue) run at once; each record once, tagged."""
    assert set(host.functions) == {"hello", "quote", "process_order"}
    calls: list[Call] = []
    expected: list[Counter[str]] = []
    for i in range(ROUNDS):
        calls.append(("hello", {"req": http_input({"name": f"grace{i}"})}, None))
        expected.append(Counter([f"Greeting grace{i}"]))
        calls.append(("quote", {"req": http_input({"sku": f"sku-{i}"})}, None))
        expected.append(Counter([f"Quoted sku-{i}"]))
        body, metadata = queue_input(json.dumps({"id": f"p{i}"}), f"m{i}")
        calls.append(("process_order", {"order": body}, metadata))
        expected.append(Counter([f"Processing order p{i}"]))
    invocations = host.invoke_all(calls)
    traces, requests = delivered(exporting)
    assert succeeded(invocations) == [True] * len(calls)
    outputs = invocations[2].response.output_data
    assert [(o.name, json.loads(o.data.string)) for o in outputs] == [
        ("processed", {"order_id": "p0", "status": "accepted"})
    ]
    assert invocations[0].response.return_value.http.body.bytes == b"Hello, grace0!"
    assert_runs_where_the_runtime_runs_it(host, invocations, requests)
    wanted = {i.invocation_id: e for i, e in zip(invocations, expected, strict=True)}
    assert by_invocation(traces) == wanted
    assert_host_gets_each_record_once_with_its_invocation(host, wanted)
    quotes = {i.invocation_id for i in invocations if i.function_name == "quote"}
    spans = [
        d
        for d in exporting.telemetry("RemoteDependencyData")
        if d["data"]["baseData"]["type"] == "HTTP"
    ]
    assert {props(d).get("invocation_id") for d in spans} >= quotes
