"""Secrets never leave the process: scrubbed before export, never logged, never world-readable."""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

import pytest
from helpers import base
from procs.launch import fast_setup, stored_blobs, wait_until

import azfunc_telemetry
from azfunc_telemetry.cli import build_parser
from azfunc_telemetry.local.sink import TelemetrySink
from azfunc_telemetry.sanitize import REDACTED, Scrubber
from azfunc_telemetry.testing import IngestionEmulator, ScriptedResponse

log = logging.getLogger("app.secrets")

pytestmark = pytest.mark.usefixtures("info_logging")

IKEY = "12345678-abcd-4ef0-9876-0123456789ab"
JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJ1c2VyLTQyIiwiYXVkIjoiYXBpIn0"
    ".c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu"
)

#: (text as the app logs it, the secret that must not leave the process)
SECRETS = [
    (f"cs=InstrumentationKey={IKEY};IngestionEndpoint=https://x.in.ai.azure.com/", IKEY),
    (f"legacy InstrumentationKey = {IKEY}", IKEY),
    ("GET https://app.azurewebsites.net/api/orders?code=FnKeyAbc123/xyz==&id=7", "FnKeyAbc123"),
    ("headers={'x-functions-key': 'HostKey-987-secret'}", "HostKey-987-secret"),
    ("x-functions-key: HostKey-654-secret", "HostKey-654-secret"),
    ("https://acct.blob.core.windows.net/c/b.txt?sv=2022-11-02&sig=AbC%2Bdef%3D&se=1", "AbC%2Bdef"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
    ("{'Authorization': 'Bearer opaque-token-value'}", "opaque-token-value"),
    ("Cookie: session=s3ss10n-value; theme=dark", "s3ss10n-value"),
    (f"sent bearer {JWT}", JWT),
    (f"token was {JWT} in the body", JWT),
    (
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=StorageKey+abc/123==;"
        "EndpointSuffix=core.windows.net",
        "StorageKey+abc/123",
    ),
    (
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;"
        "SharedAccessKey=BusKey+xyz/789=",
        "BusKey+xyz/789",
    ),
]


@pytest.fixture
def emulator(emulator: IngestionEmulator, tmp_path: Path) -> IngestionEmulator:
    """The shared emulator, with telemetry set up to deliver to it quickly."""
    fast_setup(emulator.connection_string, tmp_path / "store")
    return emulator


def exported_text(emulator: IngestionEmulator) -> str:
    """Everything that reached the endpoint, as the raw request bodies."""
    assert azfunc_telemetry.flush(5.0)
    return "\n".join(request.body.decode("utf-8") for request in emulator.requests)


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_secret_in_a_message_is_scrubbed(
    emulator: IngestionEmulator, text: str, secret: str
) -> None:
    """Each kind of secret is replaced by [REDACTED] in the exported message."""
    log.info("calling out: %s", text)
    body = exported_text(emulator)
    assert secret not in body
    assert REDACTED in base(emulator.envelopes[0])["message"]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_secret_in_exception_text_is_scrubbed(
    emulator: IngestionEmulator, text: str, secret: str
) -> None:
    """Secrets in an exception's message (and its cause's) never reach the endpoint."""
    try:
        try:
            raise ConnectionError(f"cannot connect with {text}")
        except ConnectionError as inner:
            raise RuntimeError(f"retry failed: {text}") from inner
    except RuntimeError:
        log.exception("request failed for %s", text)
    body = exported_text(emulator)
    assert secret not in body
    details = base(emulator.envelopes[0])["exceptions"]
    assert len(details) == 2
    assert all(REDACTED in detail["message"] for detail in details)


def test_secrets_in_dependency_urls_are_scrubbed(emulator: IngestionEmulator) -> None:
    """A span's name, target and data (the URL) are scrubbed: function keys, SAS signatures."""
    url = "https://acct.blob.core.windows.net/c/b?sv=1&sig=SasSig123%3D&code=FnKey456"
    with azfunc_telemetry.span(f"GET {url}", type="HTTP", target=url, data=url):
        pass
    body = exported_text(emulator)
    assert "SasSig123" not in body
    assert "FnKey456" not in body
    data = base(emulator.envelopes[0])
    assert data["data"] == (
        f"https://acct.blob.core.windows.net/c/b?sv=1&sig={REDACTED}&code={REDACTED}"
    )


def test_function_key_in_a_request_url_is_scrubbed(emulator: IngestionEmulator) -> None:
    """An HTTP-triggered invocation called with ?code=<function key>: the requests item's
    url keeps the parameter name, not the key."""
    import azure.functions as func

    @azfunc_telemetry.instrument
    def main(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    url = "https://app.azurewebsites.net/api/orders?code=FnKey-From-Portal==&id=7"
    main(func.HttpRequest(method="GET", url=url, body=b""))
    body = exported_text(emulator)
    assert "FnKey-From-Portal" not in body
    requests = [e for e in emulator.envelopes if e["data"]["baseType"] == "RequestData"]
    assert base(requests[0])["url"] == (
        f"https://app.azurewebsites.net/api/orders?code={REDACTED}&id=7"
    )


def test_secrets_in_custom_dimensions_are_scrubbed(emulator: IngestionEmulator) -> None:
    """Dimension values with secrets are scrubbed; values of secret-named keys are redacted."""
    log.info(
        "dimensions",
        extra={
            "custom_dimensions": {
                "storage": "AccountName=a;AccountKey=StorageKey987==;EndpointSuffix=x",
                "callback": "https://h/api/f?code=FnKey321",
                "Authorization": "opaque-credential-1",
                "client_secret": "opaque-credential-2",
                "headers": {"Cookie": "sid=cookie-value-3", "Accept": "json"},
            },
            "password": "opaque-credential-4",
        },
    )
    body = exported_text(emulator)
    for secret in ("StorageKey987", "FnKey321", "opaque-credential", "cookie-value-3"):
        assert secret not in body
    properties = base(emulator.envelopes[0])["properties"]
    assert properties["Authorization"] == REDACTED
    assert properties["password"] == REDACTED
    assert properties["callback"] == f"https://h/api/f?code={REDACTED}"
    assert '"Accept": "json"' in properties["headers"]


def test_user_patterns_are_scrubbed_too(tmp_path: Path) -> None:
    """scrub_patterns adds the app's own secrets; a capture group keeps its label."""
    with IngestionEmulator() as emulator:
        fast_setup(
            emulator.connection_string,
            tmp_path / "store",
            scrub_patterns=[r"(customer-number=)\d+", r"ACME-[0-9A-F]{8}"],
        )
        log.info("customer-number=998877 used licence ACME-DEADBEEF")
        body = exported_text(emulator)
        assert "998877" not in body
        assert "DEADBEEF" not in body
        message = base(emulator.envelopes[0])["message"]
        assert message == f"customer-number={REDACTED} used licence {REDACTED}"


def test_scrubbing_runs_on_the_export_thread_not_the_callers(
    emulator: IngestionEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller's log call pays nothing for scrubbing, and other handlers see the record
    unchanged: the scrubber runs only on the export thread."""
    threads: list[str] = []
    original = Scrubber.scrub

    def observed(self: Scrubber, text: str) -> str:
        threads.append(threading.current_thread().name)
        return original(self, text)

    monkeypatch.setattr(Scrubber, "scrub", observed)
    seen: list[str] = []

    class Console(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    console = Console()
    log.addHandler(console)
    try:
        log.info("key AccountKey=Visible123 in the app's own console")
    finally:
        log.removeHandler(console)
    assert "Visible123" not in exported_text(emulator)
    assert seen == ["key AccountKey=Visible123 in the app's own console"]
    assert threads
    assert set(threads) == {"azfunc-telemetry-export"}


def test_library_never_logs_its_connection_string(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Through faults (server errors, rejections, an outage) and shutdown, nothing the library
    says contains the connection string or the instrumentation key."""
    with IngestionEmulator(ikey=IKEY) as emulator, caplog.at_level(logging.DEBUG):
        emulator.script(
            ScriptedResponse(status=500),
            ScriptedResponse(status=400),
            ScriptedResponse(status=307),
            ScriptedResponse(status=206, item_statuses=[439]),
        )
        fast_setup(emulator.connection_string, tmp_path / "store", max_attempts=1)
        for index in range(4):
            log.info("message %d", index)
            azfunc_telemetry.flush(2.0)
        emulator.stop()
        log.info("during the outage")
        wait_until(lambda: azfunc_telemetry.stats().persisted >= 1)
        azfunc_telemetry.shutdown(0.5)
    library = [r for r in caplog.records if r.name.startswith("azfunc_telemetry")]
    assert library  # it did speak about the faults
    for record in library:
        text = record.getMessage() + str(record.exc_info or "")
        assert IKEY not in text.lower()
        assert "instrumentationkey" not in text.lower()


def test_malformed_connection_string_warning_does_not_echo_the_key(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bare instrumentation key set as the connection string is reported without quoting it."""
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", IKEY)
    with caplog.at_level(logging.WARNING, logger="azfunc_telemetry"):
        azfunc_telemetry.setup()
    warnings = [r.getMessage() for r in caplog.records if r.name == "azfunc_telemetry"]
    assert any("APPLICATIONINSIGHTS_CONNECTION_STRING" in text for text in warnings)
    assert all(IKEY not in text for text in warnings)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_local_storage_is_owner_only(tmp_path: Path) -> None:
    """The storage folder is 0700 (even if it existed wider) and every blob is created 0600."""
    storage = tmp_path / "store"
    storage.mkdir(mode=0o755)
    storage.chmod(0o755)
    previous_umask = os.umask(0o022)
    try:
        with IngestionEmulator() as gone:
            connection_string = gone.connection_string
        fast_setup(connection_string, storage, max_attempts=1)
        log.info("kept on disk")
        wait_until(lambda: azfunc_telemetry.stats().persisted == 1)
    finally:
        os.umask(previous_umask)
    assert stat.S_IMODE(storage.stat().st_mode) == 0o700
    blobs = stored_blobs(storage)
    assert blobs
    assert all(stat.S_IMODE(blob.stat().st_mode) == 0o600 for blob in blobs)


def test_local_endpoints_listen_on_loopback_by_default(tmp_path: Path) -> None:
    """The emulator, the local sink and the CLI's sink bind 127.0.0.1 unless told otherwise."""
    with IngestionEmulator() as emulator:
        assert emulator.endpoint.startswith("http://127.0.0.1:")
    sink = TelemetrySink(tmp_path / "telemetry.db", port=0)
    try:
        assert sink.endpoint.startswith("http://127.0.0.1:")
    finally:
        sink.stop()
    assert build_parser().parse_args(["sink"]).host == "127.0.0.1"
