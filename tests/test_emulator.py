"""Tests for IngestionEmulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import gzip
import http.client
import json
import logging
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from helpers import otel_envelope, otel_message

from azfunc_telemetry.testing.emulator import (
    DEFAULT_IKEY,
    IngestionEmulator,
    RecordedRequest,
    ScriptedResponse,
)


def envelope(text: str = "hello world", ikey: str = DEFAULT_IKEY) -> dict[str, Any]:
    """A log envelope for the emulator's default key (protocol.md Appendix A), stamped now."""
    return otel_message(text, ikey)


def request_envelope() -> dict[str, Any]:
    """An OTel server-span envelope (RequestData)."""
    return otel_envelope(
        "RequestData",
        {
            "name": "GET /api/HttpTrigger1",
            "id": "ae211013cd85d80c",
            "duration": "0.00:00:00.001",
            "responseCode": "200",
            "success": True,
            "url": "http://localhost:7071/api/HttpTrigger1?name=x",
        },
        DEFAULT_IKEY,
    )


class Answer:
    """What the client saw: status, headers, body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    emulator: IngestionEmulator,
    items: list[dict[str, Any]],
    *,
    path: str = "/v2.1/track",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=timeout)
    try:
        connection.request(
            "POST",
            path,
            body=json.dumps(items).encode() if body is None else body,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        response = connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def test_connection_string_has_trailing_slash(emulator: IngestionEmulator) -> None:
    """The connection string names the ikey and a loopback endpoint ending with '/'."""
    assert emulator.endpoint == f"http://127.0.0.1:{emulator.port}"
    assert emulator.connection_string == (
        f"InstrumentationKey={DEFAULT_IKEY};IngestionEndpoint=http://127.0.0.1:{emulator.port}/"
    )
    assert emulator.ikey == DEFAULT_IKEY


def test_double_slash_request_line_is_recorded(emulator: IngestionEmulator) -> None:
    """What SDKs send for a trailing-slash endpoint, //v2.1/track, is visible as sent."""
    answer = send(emulator, [envelope()], path="//v2.1/track")
    [recorded] = emulator.requests
    assert answer.status == 200
    assert recorded.request_line == "POST //v2.1/track HTTP/1.1"
    assert recorded.path == "//v2.1/track"
    assert recorded.status == 200
    assert recorded.item_count == 1
    assert recorded.headers["Content-Type"] == "application/json"


def test_urllib_post_with_connection_string_endpoint(emulator: IngestionEmulator) -> None:
    """Concatenating the connection-string endpoint with 'v2.1/track' works via urllib."""
    endpoint = emulator.connection_string.split("IngestionEndpoint=")[1]
    request = urllib.request.Request(
        endpoint + "/v2.1/track",
        data=json.dumps([envelope("via urllib")]).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        document = json.loads(response.read())
    assert document == {"itemsReceived": 1, "itemsAccepted": 1, "appId": None, "errors": []}
    assert emulator.envelopes[0]["data"]["baseData"]["message"] == "via urllib"


def test_gzip_ndjson_body_is_recorded_decoded(emulator: IngestionEmulator) -> None:
    """A gzipped NDJSON request is stored item by item; the recorded body is decompressed."""
    items = [envelope("one"), envelope("two")]
    raw = "\n".join(json.dumps(item) for item in items).encode()
    answer = send(
        emulator,
        [],
        path="/v2/track",
        body=gzip.compress(raw),
        headers={"Content-Type": "application/x-json-stream", "Content-Encoding": "gzip"},
    )
    assert answer.status == 200
    assert [e["data"]["baseData"]["message"] for e in emulator.envelopes] == ["one", "two"]
    assert emulator.requests[0].body == raw


def test_unknown_ikey_is_rejected_per_item(emulator: IngestionEmulator) -> None:
    """Items for another key get 400 "Invalid instrumentation key" and are not kept."""
    other = envelope(ikey="11111111-1111-1111-1111-111111111111")
    answer = send(emulator, [other, envelope("mine")])
    assert answer.status == 206
    assert answer.json()["errors"] == [
        {"index": 0, "statusCode": 400, "message": "Invalid instrumentation key"}
    ]
    assert [e["data"]["baseData"]["message"] for e in emulator.envelopes] == ["mine"]


def test_telemetry_filters_by_base_type(emulator: IngestionEmulator) -> None:
    """telemetry(base_type) returns only envelopes of that data.baseType."""
    send(emulator, [envelope(), request_envelope(), envelope()])
    assert len(emulator.telemetry()) == 3
    assert len(emulator.telemetry("MessageData")) == 2
    [request] = emulator.telemetry("RequestData")
    assert request["data"]["baseData"]["name"] == "GET /api/HttpTrigger1"


def test_scripted_partial_success(emulator: IngestionEmulator) -> None:
    """A scripted 206 stores the items marked 200 and reports the others."""
    emulator.script(ScriptedResponse(status=206, item_statuses=[200, 500, 206]))
    answer = send(emulator, [envelope("kept"), envelope("retry"), envelope("sampled")])
    assert answer.status == 206
    assert answer.json() == {
        "itemsReceived": 3,
        "itemsAccepted": 1,
        "appId": None,
        "errors": [
            {"index": 1, "statusCode": 500, "message": "Internal Server Error"},
            {"index": 2, "statusCode": 206, "message": "Telemetry sampled out."},
        ],
    }
    assert [e["data"]["baseData"]["message"] for e in emulator.envelopes] == ["kept"]


def test_scripted_429_with_retry_after(emulator: IngestionEmulator) -> None:
    """A scripted 429 carries Retry-After, keeps nothing, and is still recorded."""
    emulator.script(ScriptedResponse(status=429, headers={"Retry-After": "7"}))
    answer = send(emulator, [envelope(), envelope()])
    assert answer.status == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.json()["itemsAccepted"] == 0
    assert {error["statusCode"] for error in answer.json()["errors"]} == {429}
    assert emulator.envelopes == []
    assert [(r.status, r.item_count) for r in emulator.requests] == [(429, 2)]


def test_script_is_consumed_in_order_then_normal(emulator: IngestionEmulator) -> None:
    """Scripted answers apply one per request; afterwards requests get a normal 200."""
    emulator.script(ScriptedResponse(status=500), ScriptedResponse(status=503))
    statuses = [send(emulator, [envelope(f"try {n}")]).status for n in range(3)]
    assert statuses == [500, 503, 200]
    assert [e["data"]["baseData"]["message"] for e in emulator.envelopes] == ["try 2"]
    assert [r.status for r in emulator.requests] == [500, 503, 200]


def test_scripted_non_json_body(emulator: IngestionEmulator) -> None:
    """A raw body override is sent verbatim, e.g. a non-JSON 200."""
    emulator.script(ScriptedResponse(status=200, body=b"<html>proxy says hi</html>"))
    answer = send(emulator, [envelope()])
    assert answer.status == 200
    assert answer.body == b"<html>proxy says hi</html>"
    assert answer.headers["Content-Type"].startswith("text/plain")


def test_close_without_response(emulator: IngestionEmulator) -> None:
    """A dropped connection reaches the client as a disconnect; nothing is kept."""
    emulator.script(ScriptedResponse(close_without_response=True))
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        send(emulator, [envelope()])
    assert emulator.envelopes == []
    [recorded] = emulator.requests
    assert (recorded.status, recorded.item_count) == (0, 1)


def test_delay_holds_the_answer(emulator: IngestionEmulator) -> None:
    """A scripted delay postpones the answer by at least that long."""
    emulator.script(ScriptedResponse(delay_s=0.3))
    started = time.monotonic()
    answer = send(emulator, [envelope()])
    assert answer.status == 200
    assert time.monotonic() - started >= 0.3
    assert len(emulator.envelopes) == 1


def test_hang_until_release(emulator: IngestionEmulator) -> None:
    """A hung request is answered, and its items kept, only after release()."""
    emulator.script(ScriptedResponse(hang=True))
    answers: list[Answer] = []
    client = threading.Thread(target=lambda: answers.append(send(emulator, [envelope()])))
    client.start()
    emulator.wait_for_requests(1)
    assert emulator.envelopes == []
    assert answers == []
    emulator.release()
    client.join(10)
    assert [answer.status for answer in answers] == [200]
    assert len(emulator.envelopes) == 1


def test_stop_returns_promptly_with_hung_request() -> None:
    """stop() drops a hung request quickly; the client sees a disconnect, nothing is kept."""
    emulator = IngestionEmulator().start()
    emulator.script(ScriptedResponse(hang=True))
    errors: list[BaseException] = []

    def client() -> None:
        try:
            send(emulator, [envelope()])
        except (http.client.HTTPException, OSError) as error:
            errors.append(error)

    thread = threading.Thread(target=client)
    thread.start()
    emulator.wait_for_requests(1)
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 3.0
    thread.join(10)
    assert len(errors) == 1
    assert emulator.envelopes == []
    assert emulator.requests[0].status == 0


def test_respond_with_decides_per_request(emulator: IngestionEmulator) -> None:
    """A responder sees each request and can fail some of them."""
    seen: list[RecordedRequest] = []

    def responder(request: RecordedRequest) -> ScriptedResponse | None:
        seen.append(request)
        return ScriptedResponse(status=503) if b"flaky" in request.body else None

    emulator.respond_with(responder)
    assert send(emulator, [envelope("flaky")]).status == 503
    assert send(emulator, [envelope("fine")]).status == 200
    assert [request.status for request in seen] == [0, 0]
    assert [e["data"]["baseData"]["message"] for e in emulator.envelopes] == ["fine"]


def test_failing_responder_answers_500(
    emulator: IngestionEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A responder that raises yields a logged 500 rather than a dropped connection."""

    def broken(request: RecordedRequest) -> ScriptedResponse | None:
        raise LookupError("test bug")

    emulator.respond_with(broken)
    with caplog.at_level(logging.ERROR, logger="azfunc_telemetry.testing.emulator"):
        assert send(emulator, [envelope()]).status == 500
    assert "responder failed" in caplog.text
    emulator.respond_with(None)
    assert send(emulator, [envelope()]).status == 200


def test_clear_while_request_hangs_then_stop() -> None:
    """Clearing recordings while a request hangs, then stopping, leaves a consistent log."""
    emulator = IngestionEmulator().start()
    emulator.script(ScriptedResponse(hang=True))
    outcome: list[BaseException] = []

    def client() -> None:
        try:
            send(emulator, [envelope()])
        except (http.client.HTTPException, OSError) as error:
            outcome.append(error)

    thread = threading.Thread(target=client)
    thread.start()
    emulator.wait_for_requests(1)
    emulator.clear()
    emulator.stop()
    thread.join(10)
    assert len(outcome) == 1
    assert (emulator.requests, emulator.envelopes) == ([], [])


def test_wait_for_returns_once_predicate_holds(emulator: IngestionEmulator) -> None:
    """wait_for blocks until a background sender's envelopes satisfy the predicate."""
    sender = threading.Thread(target=lambda: [send(emulator, [envelope()]) for _ in range(3)])
    sender.start()
    envelopes = emulator.wait_for(lambda got: len(got) >= 3)
    sender.join(10)
    assert len(envelopes) == 3


def test_wait_for_timeout_names_counts(emulator: IngestionEmulator) -> None:
    """A wait that times out says how many envelopes and requests arrived."""
    send(emulator, [envelope()])
    with pytest.raises(TimeoutError, match=r"1 envelope\(s\) in 1 request\(s\)"):
        emulator.wait_for(lambda got: len(got) >= 5, timeout=0.2)
    with pytest.raises(TimeoutError, match=r"expected 4 request\(s\).*received 1"):
        emulator.wait_for_requests(4, timeout=0.2)


def test_clear_forgets_recordings(emulator: IngestionEmulator) -> None:
    """clear() empties envelopes and requests."""
    send(emulator, [envelope()])
    emulator.clear()
    assert (emulator.envelopes, emulator.requests) == ([], [])


def test_recorded_request_is_frozen(emulator: IngestionEmulator) -> None:
    """Recorded requests cannot be altered by tests."""
    send(emulator, [envelope()])
    with pytest.raises(dataclasses.FrozenInstanceError):
        emulator.requests[0].status = 500  # type: ignore[misc]


def test_restart_on_same_port_after_outage() -> None:
    """A new emulator can bind the previous port after stop, simulating recovery."""
    first = IngestionEmulator().start()
    port = first.port
    assert send(first, [envelope("before")]).status == 200
    first.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with IngestionEmulator(port=port) as second:
        assert send(second, [envelope("after")]).status == 200
        assert [e["data"]["baseData"]["message"] for e in second.envelopes] == ["after"]
    assert [e["data"]["baseData"]["message"] for e in first.envelopes] == ["before"]


def test_same_emulator_restarts_on_its_port() -> None:
    """start() after stop() listens on the same port and keeps earlier recordings."""
    emulator = IngestionEmulator().start()
    port = emulator.port
    send(emulator, [envelope("one")])
    emulator.stop()
    emulator.start()
    try:
        assert emulator.port == port
        send(emulator, [envelope("two")])
    finally:
        emulator.stop()
    assert len(emulator.envelopes) == 2


def test_port_before_start_is_an_error() -> None:
    """Asking for the address of an unstarted ephemeral-port emulator fails clearly."""
    with pytest.raises(RuntimeError, match="start"):
        _ = IngestionEmulator().connection_string


@pytest.mark.skipif(
    sys.version_info >= (3, 13),
    reason="opencensus' AzureLogHandler cannot log on 3.13 (see test_opencensus_defects.py)",
)
def test_real_opencensus_log_handler_lands(
    emulator: IngestionEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """opencensus' AzureLogHandler posts to //v2.1/track and its message is captured."""
    log_exporter = pytest.importorskip("opencensus.ext.azure.log_exporter")
    monkeypatch.setenv("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    handler = log_exporter.AzureLogHandler(
        connection_string=emulator.connection_string,
        enable_local_storage=False,
        export_interval=0.05,
        storage_path=str(tmp_path),
    )
    logger = logging.getLogger("test_emulator.opencensus")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("hello %s", "emulator", extra={"custom_dimensions": {"count": 3}})
        [message] = emulator.wait_for(lambda got: len(got) >= 1)
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert message["data"]["baseData"]["message"] == "hello emulator"
    assert message["data"]["baseData"]["properties"]["count"] == 3
    assert emulator.requests[0].request_line == "POST //v2.1/track HTTP/1.1"
