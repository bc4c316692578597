"""Capture: finding the running invocation wherever code logs, and queuing what it emits.

:mod:`.context` holds the context variable that says which invocation is running here (with
the worker's thread-local convention as a fallback), :mod:`.handler` is the root-logging
integration that tags each record and queues it, :mod:`.threads` carries the invocation into
the user's own threads and executors, :mod:`.spans` times work inside an invocation as a
dependency, and :mod:`.ids` mints and parses W3C trace-context ids. This layer runs on the
caller's path, so it never does I/O and never raises into the caller.
"""
