"""``python -m azfunc_telemetry``: the same command as ``azfunc-telemetry``."""

from __future__ import annotations

from azfunc_telemetry.local.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
