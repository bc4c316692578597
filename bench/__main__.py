"""``python -m bench [--smoke] [--out DIR] [--only NAME ...]``."""

from __future__ import annotations

from .runner import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
