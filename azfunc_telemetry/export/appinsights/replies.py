"""What an answer from the ingestion endpoint means for each item of the batch it answers.

The rules follow the endpoint protocol: ``200``/``206`` accept every item their ``errors`` do
not name; any other status accepted nothing. Items failing with 401, 403, 408, 429, 500, 502,
503 or 504 are retried, every other failure is final. ``Retry-After`` may be given in seconds
or as an HTTP date.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ...model.scrubbing import safe_str
from .. import Envelope
from .http import HttpReply

__all__ = ["RETRYABLE_STATUSES", "Verdict", "classify_reply", "retry_after_s"]

RETRYABLE_STATUSES = frozenset({401, 403, 408, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_S = 600.0


@dataclass
class Verdict:
    """What one answer means for the batch that was sent."""

    accepted: int = 0
    retry: list[Envelope] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    retry_after_s: float | None = None
    problem: str = ""
    #: Why each drop cause happened, for its one warning.
    reasons: dict[str, str] = field(default_factory=dict)


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Parse ``Retry-After`` as seconds or as an HTTP date; ``None`` when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


def classify_reply(reply: HttpReply, envelopes: Sequence[Envelope]) -> Verdict:
    """Decide, item by item where the service says, what is accepted, retried or dropped.

    A 2xx answer accepts every item its ``errors`` do not name. Any other answer accepted
    nothing ("the endpoint returns the status code of the first item"): items its ``errors``
    name get their own status, the rest the answer's status.
    """
    verdict = Verdict(retry_after_s=retry_after_s(reply.headers.get("retry-after")))
    status = reply.status
    success = 200 <= status < 300
    errors = _item_errors(reply.body, len(envelopes))
    if errors is None and success:
        # The service always answers in JSON; anything else came from something in between
        # (a proxy, a captive portal) and proves nothing was ingested.
        verdict.retry = list(envelopes)
        verdict.problem = f"status {status} with a body that is not the service's JSON"
        return verdict
    failed = {index: code for index, code, _ in errors or ()}
    messages = {code: message for _, code, message in errors or ()}
    if not success and status not in messages:
        messages[status] = reply.body[:200].decode("utf-8", "replace")
    for index, envelope in enumerate(envelopes):
        code = failed.get(index, None if success else status)
        if code is None:
            verdict.accepted += 1
        elif code in RETRYABLE_STATUSES:
            verdict.retry.append(envelope)
            verdict.problem = verdict.problem or f"status {code}"
        else:
            cause = f"status_{code}"
            verdict.dropped[cause] = verdict.dropped.get(cause, 0) + 1
            verdict.reasons[cause] = f"status {code}: {messages.get(code, '')}"
    return verdict


def _item_errors(body: bytes, count: int) -> list[tuple[int, int, str]] | None:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("errors", []), list):
        return None
    result = []
    for error in parsed.get("errors", []):
        if not isinstance(error, dict):
            continue
        index, code = error.get("index"), error.get("statusCode")
        if isinstance(index, int) and isinstance(code, int) and 0 <= index < count:
            result.append((index, code, safe_str(error.get("message", ""))))
    return result
