"""Minting W3C ids: format, uniqueness across threads, and no ids shared with a forked child."""

from __future__ import annotations

import os
import re
import sys
import threading
import warnings

import pytest

from azfunc_telemetry.capture.ids import new_span_id, new_trace_id

SPAN = re.compile(r"[0-9a-f]{16}")
TRACE = re.compile(r"[0-9a-f]{32}")


def test_span_and_trace_ids_are_lowercase_hex_and_not_zero() -> None:
    """Every id has the W3C form; none is the all-zero id the specification forbids."""
    spans = [new_span_id() for _ in range(5_000)]
    traces = [new_trace_id() for _ in range(500)]
    assert all(SPAN.fullmatch(span) for span in spans)
    assert all(TRACE.fullmatch(trace) for trace in traces)
    assert "0" * 16 not in spans
    assert "0" * 32 not in traces


def test_threads_minting_at_once_never_get_the_same_span_id() -> None:
    """8 threads x 20,000 ids, started together: 160,000 distinct ids."""
    barrier = threading.Barrier(8)
    minted: list[list[str]] = [[] for _ in range(8)]

    def mint(into: list[str]) -> None:
        barrier.wait(10)
        for _ in range(20_000):
            into.append(new_span_id())

    threads = [threading.Thread(target=mint, args=(ids,)) for ids in minted]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    every = [span for ids in minted for span in ids]
    assert len(every) == 160_000
    assert len(set(every)) == len(every)


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="needs fork")
def test_a_forked_child_mints_ids_of_its_own() -> None:
    """Ids minted ahead in the parent are not handed out again in a forked child."""
    new_span_id()  # the parent now holds spare ids
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # 3.12+ warns about forking a process with threads (other tests' export threads);
        # the child only writes to a pipe and leaves, which is safe.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        try:
            os.close(read_end)
            os.write(write_end, ",".join(new_span_id() for _ in range(64)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    child_ids = b"".join(chunks).decode().split(",")
    parent_ids = [new_span_id() for _ in range(64)]
    assert len(child_ids) == 64
    assert not set(child_ids) & set(parent_ids)


def _by_the_specification(value: object) -> tuple[str, str] | None:
    """The W3C rule as one regular expression: the reference the fast path is held to."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})(?:-[0-9a-f]{2}.*)?", value)
    if match is None:
        return None
    version, trace_id, span_id = match.groups()
    if version == "ff" or trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id


def test_traceparent_parsing_agrees_with_the_specification_on_damaged_headers() -> None:
    """50,000 headers with one to three characters changed: same verdict as the W3C pattern."""
    import random

    from azfunc_telemetry.capture.ids import parse_traceparent

    rng = random.Random(20261124)
    header = f"00-{new_trace_id()}-{new_span_id()}-01"
    alphabet = "0123456789abcdefABFx-_ \n\u0661g\u00e9"
    samples = [header, header.upper(), "ff" + header[2:], header + "-zz", header[:52], None, 7]
    for _ in range(50_000):
        chars = list(header)
        for _ in range(rng.randint(1, 3)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        samples.append("".join(chars))
    disagreements = [
        sample
        for sample in samples
        if parse_traceparent(sample) != _by_the_specification(sample)  # type: ignore[arg-type]
    ]
    assert disagreements == []
    assert parse_traceparent(header) == (header[3:35], header[36:52])
