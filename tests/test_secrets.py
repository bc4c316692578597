"""Secrets never leave the process: scrubbed before export, never logged, never world-readable."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from helpers import base
from procs.launch import fast_setup, stored_blobs, wait_until

import azfunc_telemetry
from azfunc_telemetry.local.cli import build_parser
from azfunc_telemetry.local.sink import TelemetrySink
from azfunc_telemetry.model.scrubbing import REDACTED, Scrubber
from azfunc_telemetry.runtime import get_runtime
from azfunc_telemetry.testing import FakeContext, IngestionEmulator, ScriptedResponse

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


# -- The planted-secrets corpus ------------------------------------------------------------
#
# Each case plants one secret in one place the application can put it: the message, an
# ``extra`` value (flat or nested at any depth), a secret-named ``extra`` key, exception text,
# an exception escaping an invocation, or an HTTP request's URL. Each is sent end to end
# through the real exporter to the emulator, and the secret must appear nowhere in what the
# emulator received.

GITHUB_BODY = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
OPENSSH_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAABlwAAAAdzc2gtcn"
FUNCTION_KEY = "aBcD1234efGH5678ijKL90mnOPqrST12uvWX34yzAB56CDef=="


@dataclass
class Credentials:
    """An application object whose repr shows its fields, the password among them."""

    user: str
    password: str


class Planted(NamedTuple):
    """One secret planted in one channel: what the application does, and what must not leak."""

    channel: str
    payload: Any
    secret: str


def _message(text: str, secret: str) -> Planted:
    return Planted("message", text, secret)


def _extra(extra: dict[str, Any], secret: str) -> Planted:
    return Planted("extra", extra, secret)


CORPUS: dict[str, Planted] = {
    # Passwords in URLs.
    "url-userinfo-https": _message(
        "fetching https://deploy:Sup3rPass@git.example.com/r", "Sup3rPass"
    ),
    "url-userinfo-postgresql": _message(
        "DATABASE_URL=postgresql://app:PgPa55word@db.internal:5432/orders", "PgPa55word"
    ),
    "url-userinfo-mongodb-srv": _message(
        "mongodb+srv://admin:M0ngoPw9@cluster0.example.net/db", "M0ngoPw9"
    ),
    "url-userinfo-redis-no-user": _message("cache at redis://:R3disPw77@cache:6379/0", "R3disPw77"),
    "url-userinfo-amqp": _message("amqp://guest:RabbitPw9@mq.local/vhost", "RabbitPw9"),
    # AWS.
    "aws-access-key-id": _message("using key AKIAIOSFODNN7EXAMPLE for s3", "AKIAIOSFODNN7EXAMPLE"),
    "aws-session-key-id": _message("temporary ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"),
    "aws-secret-assignment": _message(f"aws_secret_access_key={AWS_SECRET}", AWS_SECRET),
    "aws-secret-env-quoted": _message(f'AWS_SECRET_ACCESS_KEY: "{AWS_SECRET}"', AWS_SECRET),
    # Private keys.
    "pem-rsa-private-key": _message(
        f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----", PEM_BODY
    ),
    "pem-pkcs8-private-key": _message(
        f"key:\n-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\nloaded",
        PEM_BODY,
    ),
    "openssh-private-key": _message(
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{OPENSSH_BODY}\n-----END OPENSSH PRIVATE KEY-----",
        OPENSSH_BODY,
    ),
    "pem-block-cut-short": _message(f"-----BEGIN EC PRIVATE KEY-----\n{PEM_BODY}", PEM_BODY),
    # Named values in text.
    "password-colon": _message("login with password: hunter2xyz", "hunter2xyz"),
    "password-equals": _message("password=hunter3xyz user=bob", "hunter3xyz"),
    "password-json": _message('payload {"user": "bob", "password": "Js0n Pass!"}', "Js0n Pass!"),
    "password-python-repr": _message("{'user': 'bob', 'password': 'ReprPass1'}", "ReprPass1"),
    "password-json-in-json": _message('{"body": "{\\"password\\": \\"Esc4pedPw\\"}"}', "Esc4pedPw"),
    "passwd": _message("passwd=OldSchool9", "OldSchool9"),
    "pwd-colon": _message("pwd: Pwd123abc", "Pwd123abc"),
    "db-password-env": _message("DB_PASSWORD=EnvPa55word", "EnvPa55word"),
    "passphrase": _message("passphrase=correct-horse-battery", "correct-horse-battery"),
    "secret-equals": _message("secret=TopS3cretValue", "TopS3cretValue"),
    "client-secret": _message("client_id=abc client_secret=Cl1entSecret42", "Cl1entSecret42"),
    "client-secret-json": _message('{"client_secret": "Cl1entSecretJson"}', "Cl1entSecretJson"),
    "api-key-query": _message(
        "GET https://api.example.com/v1?api_key=ApiKey123456&q=x", "ApiKey123456"
    ),
    "access-token-query": _message(
        "GET https://h.example.com/cb?access_token=AccTok987654", "AccTok987654"
    ),
    "token-query": _message(
        "GET https://h.example.com/x?id=1&token=TokenInUrl123", "TokenInUrl123"
    ),
    "api-key-header": _message("api-key: ApiKeyHeader99", "ApiKeyHeader99"),
    "x-api-key-header": _message("X-Api-Key: XApiKey1234", "XApiKey1234"),
    "sql-connection-string": _message(
        "Server=tcp:db.example.com;Database=orders;User ID=app;Password=SqlPa55w0rd;",
        "SqlPa55w0rd",
    ),
    "conn-str-quoted": _message(
        'conn_str="Endpoint=https://x.example.com;Key=ConnStrKey9"', "ConnStrKey9"
    ),
    # Tokens.
    "github-ghp": _message(f"cloning with ghp_{GITHUB_BODY}", f"ghp_{GITHUB_BODY}"),
    "github-gho": _message(f"oauth gho_{GITHUB_BODY}", f"gho_{GITHUB_BODY}"),
    "github-ghu": _message(f"user-to-server ghu_{GITHUB_BODY}", f"ghu_{GITHUB_BODY}"),
    "github-ghs": _message(f"installation ghs_{GITHUB_BODY}", f"ghs_{GITHUB_BODY}"),
    "github-ghr": _message(f"refresh ghr_{GITHUB_BODY}", f"ghr_{GITHUB_BODY}"),
    "github-fine-grained": _message(
        f"github_pat_11ABCDEFG0{GITHUB_BODY}_{GITHUB_BODY}", GITHUB_BODY
    ),
    "function-key-outside-url": _message(f"calling with code={FUNCTION_KEY}", FUNCTION_KEY[:-2]),
    # The classes scrubbed before: kept in the corpus so none regresses.
    **{f"known-{index}": _message(text, secret) for index, (text, secret) in enumerate(SECRETS)},
    # Secret-named extra keys.
    "extra-pwd": _extra({"pwd": "ExtraPwd1"}, "ExtraPwd1"),
    "extra-passphrase": _extra({"passphrase": "ExtraPhrase2"}, "ExtraPhrase2"),
    "extra-credentials": _extra({"credentials": "user:ExtraCred3"}, "ExtraCred3"),
    "extra-private-key": _extra({"private_key": "ExtraPrivKey4"}, "ExtraPrivKey4"),
    "extra-conn-str": _extra({"conn_str": "ExtraConnStr5"}, "ExtraConnStr5"),
    "extra-key": _extra({"key": "ExtraBareKey6"}, "ExtraBareKey6"),
    "extra-api-key-camel": _extra({"apiKey": "ExtraApiKey7"}, "ExtraApiKey7"),
    "extra-db-password": _extra({"db_password": "ExtraDbPw8"}, "ExtraDbPw8"),
    "extra-access-token": _extra({"access_token": "ExtraAccTok9"}, "ExtraAccTok9"),
    "extra-client-secret": _extra({"clientSecret": "ExtraClSec10"}, "ExtraClSec10"),
    "extra-password-int": _extra({"password": 424242424242}, "424242424242"),
    "extra-custom-dimensions-pwd": _extra(
        {"custom_dimensions": {"pwd": "OcStylePwd11"}}, "OcStylePwd11"
    ),
    # Values nested in extra dicts, at any depth.
    "nested-db-password": _extra({"db": {"host": "h", "password": "NestedPw12"}}, "NestedPw12"),
    "nested-credentials-dict": _extra(
        {"config": {"credentials": {"user": "u", "pass": "NestedCred13"}}}, "NestedCred13"
    ),
    "nested-list-of-dicts": _extra(
        {"connections": [{"name": "a", "conn_str": "NestedConn14"}]}, "NestedConn14"
    ),
    "nested-five-deep": _extra(
        {"a": {"b": {"c": {"d": {"e": {"secret": "DeepSecret15"}}}}}}, "DeepSecret15"
    ),
    "nested-tuple": _extra({"pairs": (("token", "x"), {"token": "TupleTok16"})}, "TupleTok16"),
    "nested-text-secret": _extra(
        {"job": {"source": "https://u:NestedUrlPw17@h.example.com/x"}}, "NestedUrlPw17"
    ),
    "nested-dict-api-key": _extra({"settings": {"client": {"api_key": "ObjKey18"}}}, "ObjKey18"),
    "object-repr-password": _extra({"login": Credentials("bob", "DataclassPw19")}, "DataclassPw19"),
    # Exception text, logged and escaping.
    "exception-url-password": Planted(
        "exception", "connect to postgresql://app:ExcPgPw19@db/orders failed", "ExcPgPw19"
    ),
    "exception-aws-secret": Planted("exception", f"aws_secret_access_key={AWS_SECRET}", AWS_SECRET),
    "exception-dict-argument": Planted("exception", {"password": "ExcDictPw20"}, "ExcDictPw20"),
    "escaping-github-token": Planted("escaping", f"push failed for ghp_{GITHUB_BODY}", GITHUB_BODY),
    "escaping-password": Planted("escaping", "password: EscapingPw21", "EscapingPw21"),
    "escaping-private-key": Planted(
        "escaping",
        f"bad key -----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----",
        PEM_BODY,
    ),
    # Request URLs of HTTP-triggered invocations.
    "request-url-token": Planted(
        "url", "https://app.example.com/api/f?id=7&token=UrlTok22", "UrlTok22"
    ),
    "request-url-api-key": Planted(
        "url", "https://app.example.com/api/f?api_key=UrlKey23", "UrlKey23"
    ),
    "request-url-userinfo": Planted("url", "https://u:UrlPw24@app.example.com/api/f", "UrlPw24"),
    "request-url-code": Planted(
        "url", f"https://app.example.com/api/f?code={FUNCTION_KEY}", FUNCTION_KEY[:-2]
    ),
    "request-url-access-token": Planted(
        "url", "https://app.example.com/api/f?access_token=UrlAcc25&x=1", "UrlAcc25"
    ),
}


def _plant(planted: Planted) -> None:
    """Do what the application does with the secret in the planted channel."""
    import azure.functions as func

    if planted.channel == "message":
        log.info("calling out: %s", planted.payload)
    elif planted.channel == "extra":
        log.info("with dimensions", extra=planted.payload)
    elif planted.channel == "exception":
        try:
            raise ValueError(planted.payload)
        except ValueError:
            log.exception("operation failed")
    elif planted.channel == "escaping":

        @azfunc_telemetry.instrument
        def failing(req: func.HttpRequest) -> func.HttpResponse:
            raise RuntimeError(planted.payload)

        with pytest.raises(RuntimeError):
            failing(func.HttpRequest("GET", "https://app.example.com/api/f", body=b""))
    else:

        @azfunc_telemetry.instrument
        def main(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("ok")

        main(func.HttpRequest("GET", planted.payload, body=b""))


def _forms(secret: str) -> set[str]:
    """The secret as it could appear in a request body: raw, JSON-escaped, twice escaped."""
    once = json.dumps(secret)[1:-1]
    return {secret, once, json.dumps(once)[1:-1]}


def test_the_corpus_is_large_and_covers_every_channel() -> None:
    """At least 60 planted secrets, in every channel an application can put one."""
    assert len(CORPUS) >= 60
    assert {p.channel for p in CORPUS.values()} == {
        "message",
        "extra",
        "exception",
        "escaping",
        "url",
    }


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_planted_secret_never_reaches_the_endpoint(emulator: IngestionEmulator, case: str) -> None:
    """The planted secret appears nowhere in what the endpoint received, and something was
    received for it (a redacted item, not a dropped one)."""
    planted = CORPUS[case]
    _plant(planted)
    body = exported_text(emulator)
    assert emulator.envelopes, "nothing was exported"
    leaked = [form for form in _forms(planted.secret) if form in body]
    assert not leaked, f"{case}: {leaked} reached the endpoint"
    assert REDACTED in body


#: Text that looks a little like a secret and is not one: it must arrive unchanged.
INNOCENT_MESSAGES = [
    "Please reset your password before Monday; the password policy changed.",
    "The monkey took the keyboard and the keys to the secretary's office.",
    "GET https://example.com/api/orders?id=7&page=2 returned 200",
    "health check https://example.com:8443/health ok, mail bob@example.com",
    "status code=200 after 3 retries, signal=TERM, author=Jane",
    "prompt tokens used 1500 of 4096",
    "AKIA is not a key id on its own; neither is ghp_short",
]
INNOCENT_EXTRA: dict[str, Any] = {
    "monkey": "banana",
    "keyboard_layout": "en-GB",
    "author": "Jane",
    "callback_url": "https://example.com/hooks/orders?id=7",
    "order": {"id": 42, "items": ["book", "pen"], "note": "password reset requested"},
}


def test_innocent_text_survives_scrubbing(emulator: IngestionEmulator) -> None:
    """The word "password" in prose, "monkey", ordinary URLs and dimensions, the invocation's
    UUID and the trace id all arrive exactly as logged."""
    import azure.functions as func

    context = FakeContext("innocent")

    @azfunc_telemetry.instrument
    def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        for text in INNOCENT_MESSAGES:
            log.info(text, extra=INNOCENT_EXTRA)
        return func.HttpResponse("ok")

    url = "https://example.com/api/innocent?id=7&page=2"
    main(func.HttpRequest("GET", url, body=b""), context=context)
    assert exported_text(emulator)
    assert REDACTED not in "\n".join(r.body.decode() for r in emulator.requests)
    traces = emulator.telemetry("MessageData")
    assert [base(t)["message"] for t in traces] == INNOCENT_MESSAGES
    trace_id = context.trace_context.trace_parent.split("-")[1]
    for trace in traces:
        properties = base(trace)["properties"]
        assert properties["monkey"] == "banana"
        assert properties["callback_url"] == INNOCENT_EXTRA["callback_url"]
        assert json.loads(properties["order"]) == INNOCENT_EXTRA["order"]
        assert properties["invocation_id"] == context.invocation_id
        assert trace["tags"]["ai.operation.id"] == trace_id
    # The invocation's own item: a request, or an InProc dependency under the host's request.
    (invocation,) = emulator.telemetry("RequestData") + emulator.telemetry("RemoteDependencyData")
    assert url in (base(invocation).get("url"), base(invocation).get("data"))


def test_sensitive_keys_argument_extends_the_built_in_names(emulator: IngestionEmulator) -> None:
    """setup(sensitive_keys=[...]) adds the app's own names: their values are redacted in
    dimensions (at any depth) and in text, and the built-in names still apply."""
    fast_setup(
        emulator.connection_string,
        Path(os.environ["AZFUNC_TELEMETRY_STORAGE_PATH"]),
        sensitive_keys=["pin", "member_number"],
    )
    log.info(
        "card pin=4321 checked, password=Builtin9",
        extra={"pin": "1234", "profile": {"member_number": "M-998877"}, "colour": "blue"},
    )
    body = exported_text(emulator)
    for secret in ("4321", "1234", "M-998877", "Builtin9"):
        assert secret not in body
    (trace,) = [t for t in emulator.telemetry("MessageData") if "pin" in base(t)["properties"]]
    properties = base(trace)["properties"]
    assert properties["pin"] == REDACTED
    assert json.loads(properties["profile"]) == {"member_number": REDACTED}
    assert properties["colour"] == "blue"
    assert base(trace)["message"] == f"card pin={REDACTED} checked, password={REDACTED}"


def test_sensitive_keys_app_setting_is_read_and_the_argument_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """AZFUNC_TELEMETRY_SENSITIVE_KEYS (comma-separated) adds names; an explicit argument
    replaces the setting's names (explicit > setting > default)."""
    monkeypatch.setenv("AZFUNC_TELEMETRY_SENSITIVE_KEYS", "pin, member_number")
    with IngestionEmulator() as emulator:
        fast_setup(emulator.connection_string, tmp_path / "a")
        runtime = get_runtime()
        assert runtime is not None
        assert runtime.config.sensitive_keys == ("pin", "member_number")
        log.info("from the setting", extra={"pin": "1234", "otp": "5678"})
        body = exported_text(emulator)
        assert "1234" not in body
        assert "5678" in body  # not a sensitive name: sent as is
        azfunc_telemetry.shutdown(1.0)
    with IngestionEmulator() as emulator:
        fast_setup(emulator.connection_string, tmp_path / "b", sensitive_keys=["otp"])
        log.info("from the argument", extra={"pin": "1234", "otp": "5678"})
        body = exported_text(emulator)
        assert "5678" not in body
        assert "1234" in body


TEXT_CASES = sorted(name for name, planted in CORPUS.items() if planted.channel == "message")


@pytest.mark.parametrize("case", TEXT_CASES)
def test_every_text_secret_is_scrubbed_from_exceptions_too(
    emulator: IngestionEmulator, case: str
) -> None:
    """Each secret of the text corpus, as the text of an exception logged with
    logger.exception and of one escaping an invocation, reaches the endpoint redacted."""
    text = CORPUS[case].payload
    _plant(Planted("exception", text, CORPUS[case].secret))
    _plant(Planted("escaping", text, CORPUS[case].secret))
    body = exported_text(emulator)
    assert len(emulator.telemetry("ExceptionData")) == 2
    leaked = [form for form in _forms(CORPUS[case].secret) if form in body]
    assert not leaked, f"{case}: {leaked} reached the endpoint"
