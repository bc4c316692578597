"""The root-logging integration: a handler that tags each record and queues it.

``handle()`` runs in the caller's thread on every log call, so it does the least that is
correct: find the invocation (one context-variable read in the common case), format the message
(the arguments may change after the call returns), append to the bounded queue. It takes no lock,
does no I/O and never raises into the caller.

Every :class:`TelemetryHandler` queues into one destination, the process's pipeline, which the
runtime connects (:func:`connect`) whenever ``setup()`` builds one; until then records are let
go, as they are when export is off. So a handler can be made at any time, by ``setup()`` for the
root logger or by an app for a logger that does not propagate to it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection

from ..model.records import LogItem
from .context import lookup_invocation

__all__ = [
    "WORKER_LOGGERS",
    "Destination",
    "InvocationContextFilter",
    "ShutdownDropCounter",
    "TelemetryHandler",
    "connect",
    "is_worker_logger",
]

_get_ident = threading.get_ident

#: Name prefixes of the loggers of the Functions worker and its runtimes. The host already
#: receives and keeps their records (as system logs); exporting them again would fill the app's
#: traces with dispatch chatter such as "Received FunctionInvocationRequest". A plain prefix,
#: as the worker's own system-log rule: it takes in ``azure_functions_worker_errors`` too.
WORKER_LOGGERS = (
    "azure_functions_worker",
    "azure_functions_runtime",
    "azure_functions_runtime_v1",
    "proxy_worker",
    # The 3.13+ runtime libraries log through the ``azure.functions`` logger ("Function name:
    # ..., Function Type: ..." for every invocation), which the worker also keeps as system.
    "azure.functions",
)
#: Logger name -> whether it is one of the worker's; a process has few logger names.
_worker_logger_memo: dict[str, bool] = {}
_WORKER_LOGGER_MEMO_MAX = 4096


def is_worker_logger(name: str) -> bool:
    """Whether ``name`` starts with one of :data:`WORKER_LOGGERS` (in any case)."""
    known = _worker_logger_memo.get(name)
    if known is not None:
        return known
    if type(name) is not str:
        return False
    found = name.lower().startswith(WORKER_LOGGERS)
    if len(_worker_logger_memo) < _WORKER_LOGGER_MEMO_MAX:
        _worker_logger_memo[name] = found
    return found


def _is_library_record(record: logging.LogRecord) -> bool:
    name = record.name
    return name == "azfunc_telemetry" or name.startswith("azfunc_telemetry.")


class Destination:
    """Where handlers queue records, and the threads whose records must not be queued."""

    __slots__ = ("excluded_threads", "feedback", "submit")

    def __init__(
        self,
        submit: Callable[[LogItem], None],
        excluded_threads: Collection[int] = (),
        feedback: Callable[[LogItem], None] | None = None,
    ) -> None:
        #: Queues one item without blocking (the pipeline's ``submit``).
        self.submit = submit
        #: Thread idents whose records are not queued: the export thread's, so that a warning
        #: about delivery never feeds back into delivery. The pipeline may change it in place.
        self.excluded_threads = excluded_threads
        #: Takes application records logged on an excluded thread (by an ``extra`` value's
        #: ``__str__`` on the export thread, say), to export them without recursing.
        self.feedback = feedback


def _let_go(item: LogItem) -> None:
    """The destination before ``setup()`` and when export is off: nothing is queued."""


_NOWHERE = Destination(_let_go)
_destination = _NOWHERE


def connect(destination: Destination | None) -> Destination:
    """Send every handler's records to ``destination`` (``None``: nowhere); returns the last one.

    The runtime calls it when it builds a pipeline. One assignment, so a record being emitted
    meanwhile goes wholly to the old destination or wholly to the new.
    """
    global _destination
    previous = _destination
    _destination = _NOWHERE if destination is None else destination
    return previous


class TelemetryHandler(logging.Handler):
    """Queues every record it sees, with the invocation it belongs to, for export.

    ``setup()`` puts one on the root logger. Add another to a logger that does not propagate
    to the root (some frameworks set ``propagate = False``) to export its records too; a logger
    that propagates needs none, or its records would be exported twice. Every handler queues
    into the pipeline ``setup()`` built, whenever it was made; before ``setup()`` has run (by
    itself on the first invocation) and while export is off, records are let go.

    Records logged on the export thread itself never go through the queue, so a warning about
    delivery can never feed back into delivery (they still reach other handlers, or stderr).
    Application records logged there (by an ``extra`` value's ``__str__``, say) go to the
    destination's ``feedback``, which exports them with the batch being built, without
    recursing. The records of the Functions worker's own loggers (:data:`WORKER_LOGGERS`) are
    skipped: the host has them.
    """

    def __init__(self, level: int | str = logging.NOTSET) -> None:
        super().__init__(level)

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter, then queue, without ``Handler.handle``'s lock: queuing is thread-safe, and
        the lock would serialise every log call of every thread."""
        if self.filters and not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record with its invocation; never blocks, never raises."""
        try:
            known = _worker_logger_memo.get(record.name)
            if known or (known is None and is_worker_logger(record.name)):
                return
            destination = _destination
            if _get_ident() in destination.excluded_threads:
                feedback = destination.feedback
                if feedback is not None and not _is_library_record(record):
                    feedback(LogItem(record, lookup_invocation()))
                    if record.levelno < logging.WARNING:
                        return
                self._show_if_unheard(record)
                return
            destination.submit(LogItem(record, lookup_invocation()))
            if record.levelno >= logging.WARNING:
                self._show_if_unheard(record)
        except Exception:
            self.handleError(record)

    def _show_if_unheard(self, record: logging.LogRecord) -> None:
        """Keep Python's last-resort output when this handler is the only one listening.

        Without any handler, warnings go to stderr through ``logging.lastResort``. Adding this
        handler to the root logger would silence them in a plain local run (in Azure the
        worker's own handler is there), so when no other handler would see the record, it is
        passed on to ``lastResort`` just as Python would have done.
        """
        last_resort = logging.lastResort
        if last_resort is None or record.levelno < last_resort.level:
            return
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None:
            if any(handler is not self for handler in logger.handlers):
                return
            if not logger.propagate:
                break
            logger = logger.parent
        last_resort.handle(record)


class InvocationContextFilter(logging.Filter):
    """Adds ``invocation_id`` and ``function_name`` attributes to records, for formatters.

    Attach it to any handler (a console handler, say) to write
    ``%(invocation_id)s`` in its format; outside an invocation both are empty strings.
    The filter never rejects a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Stamp the record; always keep it."""
        context = lookup_invocation()
        if not hasattr(record, "invocation_id"):
            record.invocation_id = context.invocation_id if context else ""
        if not hasattr(record, "function_name"):
            record.function_name = context.function_name if context else ""
        return True


class ShutdownDropCounter(logging.Handler):
    """Stands in for :class:`TelemetryHandler` after ``shutdown()``: counts, never queues.

    A record logged once telemetry has stopped cannot be delivered; counting it keeps
    ``stats()`` honest (cause ``after_shutdown``) instead of letting it vanish. A later
    ``setup()`` replaces this handler with a working one.
    """

    def __init__(self, count: Callable[[], None]) -> None:
        super().__init__()
        self._count = count

    def handle(self, record: logging.LogRecord) -> bool:
        """Count the record; no lock, no formatting, never raises."""
        try:
            self._count()
        except Exception:
            self.handleError(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record (``handle`` does; kept for callers of ``emit``)."""
        self.handle(record)
