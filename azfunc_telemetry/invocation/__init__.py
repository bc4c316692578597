"""The invocation: the middleware around an entry point, from decoration to its last item.

:mod:`.middleware` is ``@instrument`` (one wrapper per mode, sync and async, with the signature
the worker binds to) and :mod:`.app` its one-call form for a v2 ``FunctionApp``.
:mod:`.lifecycle` opens an invocation (context, concurrency counters) and closes it (the
invocation item, its exception); :mod:`.concurrency` tracks how busy the worker's thread pool
is; :mod:`.watchdog` warns before the host's ``functionTimeout``; :mod:`.hostjson` reads what
``host.json`` says that matters to telemetry. The runtime hands this layer where to report.
"""
