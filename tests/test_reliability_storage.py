"""Local storage shared by several processes, and how soon stored items go out again.

Each case runs the real exporter over real HTTP to the emulator; the other process is a real
child process on the same storage folder.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import messages
from procs.launch import child_environment, fast_setup, start_program, stored_blobs, wait_until

import azfunc_telemetry
from azfunc_telemetry.testing import IngestionEmulator, RecordedRequest, ScriptedResponse

log = logging.getLogger("app.storage")

pytestmark = pytest.mark.usefixtures("info_logging")


def test_blobs_another_process_sent_are_no_longer_pending_here(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """Two processes share one storage folder: when the other one delivers the blobs this one
    stored, this one's pending count drops to 0 and flush() returns True at once, instead of
    counting them forever and waiting out its whole timeout."""
    storage = tmp_path / "store"
    # This process stores its records during an outage, tries them from storage once (that
    # fails too) and would not try again for an hour.
    fast_setup(emulator.connection_string, storage, max_attempts=1, storage_retry_interval_s=3600)
    sends: Counter[str] = Counter()

    def outage(request: RecordedRequest) -> ScriptedResponse:
        sends.update(re.findall(r"shared \d+", request.body.decode("utf-8")))
        return ScriptedResponse(status=503)

    emulator.respond_with(outage)
    logged = {f"shared {index}" for index in range(30)}
    for text in sorted(logged):
        log.info(text)
    wait_until(lambda: azfunc_telemetry.stats().persisted == len(logged), timeout_s=10.0)
    wait_until(lambda: any(count >= 2 for count in sends.values()), timeout_s=10.0)
    assert azfunc_telemetry.stats().pending == len(logged)
    emulator.respond_with(None)
    # Another process on the same folder starts and delivers them.
    env = child_environment(emulator.connection_string, storage)
    with start_program("serve_until_stdin_closes", env=env) as other:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "ready"
        try:
            emulator.wait_for(lambda envelopes: logged <= set(messages(envelopes)), timeout=10.0)
            wait_until(lambda: stored_blobs(storage) == [], timeout_s=10.0)  # answer read
        finally:
            _stdout, stderr = other.communicate("", timeout=10.0)
    assert other.returncode == 0, stderr
    assert azfunc_telemetry.stats().sent == 0  # the other process sent them, not this one
    started = time.monotonic()
    assert azfunc_telemetry.flush(10.0)
    assert time.monotonic() - started < 3.0
    assert azfunc_telemetry.stats().pending == 0


def test_opencensus_is_used_only_through_its_public_api() -> None:
    """No module of the package that imports opencensus touches a private name of it: every
    attribute starting with an underscore is read off our own ``self``, and nothing from
    opencensus is imported under a private name."""
    import ast

    import azfunc_telemetry as package

    root = Path(package.__file__).parent
    users = []
    for source in sorted(root.rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        imports = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("opencensus")
        ]
        if not imports:
            continue
        users.append(source.name)
        for statement in imports:
            assert statement.module is not None
            assert not any(part.startswith("_") for part in statement.module.split("."))
            assert not any(alias.name.startswith("_") for alias in statement.names)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                owner = node.value
                own = isinstance(owner, ast.Name) and owner.id == "self"
                assert own, f"{source.name}:{node.lineno} reads {node.attr} off something else"
    assert users == ["storage.py"]


@pytest.mark.slow
def test_a_blob_being_leased_over_and_over_stays_pending(tmp_path: Path) -> None:
    """Another process leasing and handing back a blob of ours again and again renames it
    under every listing; it is still on disk, so it stays pending the whole time."""
    from opencensus.ext.azure.common.storage import LocalFileBlob

    from azfunc_telemetry.export.appinsights.storage import PersistentStore
    from azfunc_telemetry.export.stats import DeliveryStats

    store = PersistentStore(
        str(tmp_path / "store"), max_bytes=1 << 20, retention_s=3600.0, stats=DeliveryStats()
    )
    assert store.put([{"name": "item", "index": index} for index in range(7)])
    (blob_path,) = stored_blobs(tmp_path / "store")
    stop = threading.Event()

    def lease_and_hand_back() -> None:
        blob = LocalFileBlob(str(blob_path))
        while not stop.is_set():
            blob.lease(30)
            blob.lease(0)

    other = threading.Thread(target=lease_and_hand_back)
    other.start()
    try:
        readings = []
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            readings.append(store.own_pending())
    finally:
        stop.set()
        other.join()
    assert len(readings) > 100
    assert set(readings) == {7}
