"""The server's log handler: text lines (the default) or JSON lines (``--log-format json``).

JSON: one object per record with ``ts`` (ISO 8601 UTC), ``level``, ``logger``, ``msg``, and
the record's structured fields (what a call passed as ``extra``: ``call_id``, ``caller``,
``callee``, ``route``, ``outcome``, ``duration_s``, ...; docs/operations.md, "Logs"), plus
``exc_info`` for a traceback. Written by python-json-logger's orjson formatter.
"""
from __future__ import annotations

import logging
import sys

from pythonjsonlogger.orjson import OrjsonFormatter

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def json_formatter() -> logging.Formatter:
    return OrjsonFormatter("{levelname}{name}{message}", style="{", timestamp="ts",
                           rename_fields={"levelname": "level", "name": "logger", "message": "msg"})


def configure(level: int, fmt: str = "text") -> None:
    """Send every record at ``level`` or above to stderr in ``fmt`` ("text" or "json")."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)

