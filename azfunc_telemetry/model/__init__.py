"""The model: what telemetry is, as plain data and pure functions, importing nothing above it.

Every item the library queues is one of the typed records in :mod:`.records` (a log record, an
invocation, a dependency, an exception, a metric), tagged with the :class:`.invocation
.InvocationContext` it belongs to. :mod:`.dimensions` turns a log record into the custom
dimensions every backend reports, and :mod:`.scrubbing` keeps secrets and oversized values out
of them. Capture and the invocation middleware build these records; the export side reads them.
"""
