"""The Application Insights backend: envelopes, their delivery, and what could not be sent.

:mod:`.envelope` is the formatter that turns queued records into Application Insights
envelopes; :mod:`.body` writes a batch as one request body; :mod:`.http` keeps one keep-alive
connection to the ingestion endpoint with hard timeouts; :mod:`.replies` says what an answer
means for each item; :mod:`.exporter` retries, backs off and persists; :mod:`.storage` keeps
what could not be delivered yet on local disk, through opencensus-ext-azure's public API.
"""
