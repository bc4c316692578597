"""Tests for the ingestion protocol core: decoding, validation, responses and the HTTP server."""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from azfunc_telemetry.ingestion import (
    MAX_ITEM_BYTES,
    IncomingRequest,
    IngestionError,
    IngestionServer,
    build_response,
    check_items,
    decode_body,
    parse_envelope_time,
    validate_item,
)

IKEY = "00000000-0000-0000-0000-000000000001"
# Envelopes are stamped relative to the moment the tests run: the server under test compares them
# with its own clock and, like the service, refuses items more than 48 hours old.
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def message_envelope(text: str = "hello world", when: datetime = NOW) -> dict[str, Any]:
    """An opencensus AzureLogHandler message envelope (protocol.md Appendix A)."""
    return {
        "iKey": IKEY,
        "tags": {
            "ai.cloud.role": "exp_oc_capture.py",
            "ai.cloud.roleInstance": "vm",
            "ai.internal.sdkVersion": "py3.11.7:oc0.11.4:ext1.1.15",
            "ai.operation.id": "00000000000000000000000000000000",
            "ai.operation.parentId": "|00000000000000000000000000000000.0000000000000000.",
        },
        "time": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "name": "Microsoft.ApplicationInsights.Message",
        "data": {
            "baseData": {
                "message": text,
                "severityLevel": 1,
                "properties": {"lineNumber": 22, "invocation_id": "abc-123", "count": 3},
                "ver": 2,
            },
            "baseType": "MessageData",
        },
    }


def ndjson(items: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(item) for item in items).encode()


ITEMS = [message_envelope("first"), message_envelope("second")]
ENCODINGS = {
    "json-array": (json.dumps(ITEMS).encode(), {"Content-Type": "application/json"}, ITEMS),
    "single-object": (
        json.dumps(ITEMS[0]).encode(),
        {"Content-Type": "application/json; charset=utf-8"},
        ITEMS[:1],
    ),
    "ndjson": (ndjson(ITEMS), {"Content-Type": "application/x-json-stream"}, ITEMS),
    "ndjson-unlabelled": (ndjson(ITEMS), {"Content-Type": "application/json"}, ITEMS),
}


class TestDecodeBody:
    @pytest.mark.parametrize("encoding", sorted(ENCODINGS))
    def test_plain_bodies_decode(self, encoding: str) -> None:
        """Array, single object and NDJSON bodies all yield their items in order."""
        body, headers, expected = ENCODINGS[encoding]
        assert decode_body(body, headers) == expected

    @pytest.mark.parametrize("encoding", sorted(ENCODINGS))
    def test_gzip_bodies_decode(self, encoding: str) -> None:
        """Each encoding also decodes when gzipped with Content-Encoding: gzip."""
        body, headers, expected = ENCODINGS[encoding]
        assert decode_body(gzip.compress(body), {**headers, "Content-Encoding": "gzip"}) == expected

    @pytest.mark.parametrize("encoding", sorted(ENCODINGS))
    def test_gzip_is_detected_by_magic_bytes(self, encoding: str) -> None:
        """A gzipped body without Content-Encoding is recognised by its magic bytes."""
        body, headers, expected = ENCODINGS[encoding]
        assert decode_body(gzip.compress(body), headers) == expected

    def test_header_names_are_case_insensitive(self) -> None:
        """Lower-case header names work like canonical ones."""
        body = gzip.compress(ndjson(ITEMS))
        headers = {"content-type": "application/x-json-stream", "content-encoding": "gzip"}
        assert decode_body(body, headers) == ITEMS

    def test_utf8_bom_is_ignored(self) -> None:
        """A leading UTF-8 byte-order mark does not break decoding."""
        assert decode_body(b"\xef\xbb\xbf" + json.dumps(ITEMS).encode(), {}) == ITEMS

    @pytest.mark.parametrize(
        ("body", "headers", "fragment"),
        [
            (b"", {}, "empty"),
            (b"   \n", {}, "empty"),
            (b"{not json", {}, "not valid JSON"),
            (b"[1, 2]", {}, "Item 0 is not a JSON object"),
            (b"\xff\xfe", {}, "UTF-8"),
            (b"\x1f\x8bnot really gzip", {}, "decompressed"),
            (b"[]", {"Content-Encoding": "gzip"}, "decompressed"),
            (b'{"a": 1}\n{oops', {"Content-Type": "application/x-json-stream"}, "line 2"),
        ],
    )
    def test_undecodable_bodies_raise_400(
        self, body: bytes, headers: dict[str, str], fragment: str
    ) -> None:
        """Bodies that cannot be read raise IngestionError with status 400 and a reason."""
        with pytest.raises(IngestionError) as caught:
            decode_body(body, headers)
        assert caught.value.status == 400
        assert fragment in caught.value.message


class TestParseEnvelopeTime:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-11-24T03:45:33.536586Z", datetime(2026, 11, 24, 3, 45, 33, 536586)),
            ("2026-11-24T03:45:39.057909", datetime(2026, 11, 24, 3, 45, 39, 57909)),
            ("2026-11-24T03:45:33.5365861Z", datetime(2026, 11, 24, 3, 45, 33, 536586)),
            ("2026-11-24T05:45:33+02:00", datetime(2026, 11, 24, 3, 45, 33)),
            ("2026-11-24T03:45Z", datetime(2026, 11, 24, 3, 45)),
        ],
    )
    def test_formats_parse_to_utc(self, text: str, expected: datetime) -> None:
        """Z, naive (read as UTC), offset and 7-digit fraction forms all parse to aware UTC."""
        assert parse_envelope_time(text) == expected.replace(tzinfo=timezone.utc)

    def test_garbage_raises_value_error(self) -> None:
        """Text that is not a date-time raises ValueError."""
        with pytest.raises(ValueError, match="ISO-8601"):
            parse_envelope_time("yesterday")


class TestValidateItem:
    def test_valid_item_passes(self) -> None:
        """A well-formed envelope with a known key has no error."""
        assert validate_item(message_envelope(), ikeys=frozenset({IKEY}), now=NOW) is None

    def test_unknown_ikey_is_rejected_like_the_service(self) -> None:
        """An unknown key gets 400 "Invalid instrumentation key"."""
        other = {**message_envelope(), "iKey": "11111111-1111-1111-1111-111111111111"}
        assert validate_item(other, ikeys=frozenset({IKEY}), now=NOW) == (
            400,
            "Invalid instrumentation key",
        )

    def test_malformed_ikey_is_rejected(self) -> None:
        """A key that is not a GUID is rejected even when listed."""
        item = {**message_envelope(), "iKey": "not-a-guid"}
        assert validate_item(item, ikeys=frozenset({"not-a-guid"}), now=NOW) == (
            400,
            "Invalid instrumentation key",
        )

    def test_ikey_comparison_ignores_case(self) -> None:
        """The service treats GUIDs case-insensitively."""
        known = "abcdef00-0000-0000-0000-0000000000ff"
        item = {**message_envelope(), "iKey": known.upper()}
        assert validate_item(item, ikeys=frozenset({known}), now=NOW) is None

    def test_any_ikey_when_none_configured(self) -> None:
        """With ikeys=None any key (even a missing one) is accepted."""
        item = message_envelope()
        del item["iKey"]
        assert validate_item(item, ikeys=None, now=NOW) is None

    @pytest.mark.parametrize("field", ["name", "time", "data"])
    def test_required_fields(self, field: str) -> None:
        """A missing name, time or data is a 400 naming the field."""
        item = message_envelope()
        del item[field]
        status, message = validate_item(item, ikeys=None, now=NOW) or (0, "")
        assert status == 400
        assert message.startswith(f"109: Field '{field}' on type 'Envelope' is required")

    def test_too_old_time_uses_service_message(self) -> None:
        """An item older than 48 h gets the service's 103 message with the actual age."""
        item = message_envelope(when=NOW - timedelta(hours=63))
        assert validate_item(item, ikeys=None, now=NOW) == (
            400,
            "103: Field 'time' on type 'Envelope' is older than the allowed min date. "
            "Expected: now - 172800000ms, Actual: now - 226800000ms",
        )

    def test_future_time_beyond_two_hours_is_rejected(self) -> None:
        """An item more than 2 h ahead is rejected with a max-date message."""
        item = message_envelope(when=NOW + timedelta(hours=3))
        status, message = validate_item(item, ikeys=None, now=NOW) or (0, "")
        assert status == 400
        assert "newer than the allowed max date" in message
        assert "Expected: now + 7200000ms, Actual: now + 10800000ms" in message

    def test_window_edges_are_inclusive(self) -> None:
        """Exactly 48 h old and exactly 2 h ahead are still accepted."""
        for when in (NOW - timedelta(hours=48), NOW + timedelta(hours=2)):
            assert validate_item(message_envelope(when=when), ikeys=None, now=NOW) is None

    def test_time_without_z_is_utc(self) -> None:
        """opencensus metric times carry no Z; they are read as UTC, not local time."""
        item = {**message_envelope(), "time": (NOW - timedelta(hours=47)).isoformat()[:-6]}
        assert validate_item(item, ikeys=None, now=NOW) is None

    def test_unparseable_time_is_rejected(self) -> None:
        """A time that is not ISO-8601 is a 400."""
        item = {**message_envelope(), "time": "last tuesday"}
        status, message = validate_item(item, ikeys=None, now=NOW) or (0, "")
        assert status == 400
        assert "last tuesday" in message

    def test_oversized_item_is_rejected(self) -> None:
        """Items over 64 kB serialized are rejected; just under is fine."""
        small = message_envelope("")
        overhead = len(json.dumps(small).encode())
        fits = message_envelope("x" * (MAX_ITEM_BYTES - overhead))
        assert validate_item(fits, ikeys=None, now=NOW) is None
        too_big = message_envelope("x" * (MAX_ITEM_BYTES - overhead + 1))
        status, message = validate_item(too_big, ikeys=None, now=NOW) or (0, "")
        assert status == 400
        assert "too large" in message


def test_check_items_splits_batch() -> None:
    """check_items returns the good items and indexed errors for the bad ones."""
    good = message_envelope()
    stale = message_envelope(when=NOW - timedelta(days=3))
    accepted, errors = check_items([stale, good], ikeys=None, now=NOW)
    assert accepted == [good]
    assert [(error["index"], error["statusCode"]) for error in errors] == [(0, 400)]
    assert errors[0]["message"].startswith("103: Field 'time'")


class TestBuildResponse:
    def test_all_accepted_is_200(self) -> None:
        """No errors gives 200 and the full document with appId null."""
        status, body = build_response(3, [])
        assert status == 200
        assert json.loads(body) == {
            "itemsReceived": 3,
            "itemsAccepted": 3,
            "appId": None,
            "errors": [],
        }

    def test_some_accepted_is_206(self) -> None:
        """Partial acceptance gives 206 with the per-item errors in index order."""
        errors = [
            {"index": 2, "statusCode": 500, "message": "Internal Server Error"},
            {"index": 0, "statusCode": 400, "message": "Invalid instrumentation key"},
        ]
        status, body = build_response(5, errors)
        document = json.loads(body)
        assert status == 206
        assert document["itemsReceived"] == 5
        assert document["itemsAccepted"] == 3
        assert [error["index"] for error in document["errors"]] == [0, 2]

    def test_none_accepted_uses_first_items_status(self) -> None:
        """When every item failed, the HTTP status is that of the first item."""
        errors = [
            {"index": 1, "statusCode": 500, "message": "Internal Server Error"},
            {"index": 0, "statusCode": 429, "message": "Too many requests"},
        ]
        status, body = build_response(2, errors)
        assert status == 429
        assert json.loads(body)["itemsAccepted"] == 0


def post(
    server: IngestionServer, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class TestIngestionServer:
    def test_accepted_items_reach_callback(self) -> None:
        """Valid items go to on_items along with the request (raw line, decoded body)."""
        received: list[tuple[list[dict[str, Any]], IncomingRequest]] = []
        items = [message_envelope(when=datetime.now(timezone.utc))]
        with IngestionServer(lambda got, request: received.append((got, request))) as server:
            status, body = post(
                server,
                "//v2.1/track",
                gzip.compress(json.dumps(items).encode()),
                {"Content-Encoding": "gzip"},
            )
        assert status == 200
        assert json.loads(body)["itemsAccepted"] == 1
        [(got, request)] = received
        assert got == items
        assert request.request_line == "POST //v2.1/track HTTP/1.1"
        assert request.path == "//v2.1/track"
        assert json.loads(request.body) == items

    @pytest.mark.parametrize("path", ["/v2/track", "/v2.1/track", "///v2.1/track?x=1"])
    def test_track_paths_are_served(self, path: str) -> None:
        """Both API versions with any number of leading slashes and a query are served."""
        with IngestionServer() as server:
            status, _ = post(server, path, json.dumps(ITEMS).encode())
        assert status == 200

    def test_other_paths_are_404(self) -> None:
        """Anything but the track endpoint is 404; GET on it is 405."""
        with IngestionServer() as server:
            assert post(server, "/v2/other", b"[]")[0] == 404
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                connection.request("GET", "/v2.1/track")
                response = connection.getresponse()
                response.read()
            finally:
                connection.close()
        assert response.status == 405

    def test_invalid_items_are_reported_and_not_delivered(self) -> None:
        """With ikeys set, a foreign key is a per-item error and only good items are delivered."""
        received: list[dict[str, Any]] = []
        good = message_envelope(when=datetime.now(timezone.utc))
        bad = {**good, "iKey": "22222222-2222-2222-2222-222222222222"}
        with IngestionServer(lambda got, _: received.extend(got), ikeys=[IKEY]) as server:
            status, body = post(server, "/v2.1/track", json.dumps([bad, good]).encode())
        assert status == 206
        assert json.loads(body)["errors"] == [
            {"index": 0, "statusCode": 400, "message": "Invalid instrumentation key"}
        ]
        assert received == [good]

    def test_undecodable_body_is_400(self) -> None:
        """A non-JSON body is answered 400 with the service's document shape."""
        with IngestionServer() as server:
            status, body = post(server, "/v2.1/track", b"garbage")
        document = json.loads(body)
        assert status == 400
        assert document["itemsReceived"] == 0
        assert document["errors"][0]["statusCode"] == 400

    def test_callback_failure_answers_500(self) -> None:
        """If storing fails, the sender gets a retryable 500 for every item."""

        def failing(items: list[dict[str, Any]], request: IncomingRequest) -> None:
            raise RuntimeError("disk full")

        with IngestionServer(failing) as server:
            status, body = post(server, "/v2.1/track", json.dumps(ITEMS).encode())
        assert status == 500
        assert {error["statusCode"] for error in json.loads(body)["errors"]} == {500}

    def test_handler_fault_is_logged_as_error(self, caplog: pytest.LogCaptureFixture) -> None:
        """A bug while answering drops the connection and is logged, not printed."""

        class Faulty(IngestionServer):
            def handle_track(self, request: IncomingRequest) -> Any:
                raise ZeroDivisionError("bug")

        with (
            caplog.at_level(logging.ERROR, logger="azfunc_telemetry.ingestion"),
            Faulty() as server,
            pytest.raises(http.client.RemoteDisconnected),
        ):
            post(server, "/v2.1/track", b"[]")
        assert "ZeroDivisionError" in caplog.text

    def test_keep_alive_connection_is_reused(self) -> None:
        """Two requests travel over one HTTP/1.1 connection with correct Content-Length."""
        with IngestionServer() as server:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                connection.request("POST", "/v2.1/track", body=json.dumps(ITEMS).encode())
                first = connection.getresponse()
                first_body = first.read()
                first_socket = connection.sock
                connection.request("POST", "/v2.1/track", body=json.dumps(ITEMS).encode())
                second = connection.getresponse()
                second.read()
                assert connection.sock is first_socket
            finally:
                connection.close()
        assert first.getheader("Content-Length") == str(len(first_body))
        assert (first.status, second.status) == (200, 200)

    def test_chunked_body_is_read(self) -> None:
        """A chunked request body is reassembled."""
        received: list[dict[str, Any]] = []
        with IngestionServer(lambda got, _: received.extend(got)) as server:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                body = json.dumps(ITEMS).encode()
                chunks = iter([body[:10], body[10:]])
                connection.request("POST", "/v2.1/track", body=chunks, encode_chunked=True)
                response = connection.getresponse()
                response.read()
            finally:
                connection.close()
        assert response.status == 200
        assert len(received) == 2

    def test_endpoint_and_connection_string(self) -> None:
        """The endpoint names the bound loopback port; the connection string ends with '/'."""
        with IngestionServer() as server:
            assert server.endpoint == f"http://127.0.0.1:{server.port}"
            assert server.connection_string(IKEY) == (
                f"InstrumentationKey={IKEY};IngestionEndpoint=http://127.0.0.1:{server.port}/"
            )

    def test_stop_is_prompt_with_idle_keep_alive_connection(self) -> None:
        """An idle client connection does not hold stop() up, and the thread ends."""
        server = IngestionServer().start()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            connection.request("POST", "/v2.1/track", body=b"[]")
            response = connection.getresponse()
            response.read()
            assert response.status == 200
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 2.0
            assert connection.sock is not None
            assert connection.sock.recv(1) == b""
        finally:
            connection.close()
        prefix = f"ingestion-{server.port}"
        assert not [t for t in threading.enumerate() if t.name.startswith(prefix)]

    def test_stop_without_start_is_safe(self) -> None:
        """A server that never served can be stopped (twice) and frees its port."""
        server = IngestionServer()
        server.stop()
        server.stop()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
