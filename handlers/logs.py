"""Structured logs (JSON lines on stderr) without personal data.

Only ids, event types, counts and timings are logged: names, e-mail addresses, talking points
and notes never reach a log line.
"""

from __future__ import annotations

import logging
import sys
import threading

import structlog

#: One line at a time: `print` writes the text and its newline separately, so two threads of a
#: worker logging at once ran their JSON lines together (`}{`) and a log reader lost both.
_WRITING = threading.Lock()


class _StderrLogger:
    """Writes each line to whatever `sys.stderr` is *now* (tests and daemons swap it)."""

    def msg(self, message: str) -> None:
        with _WRITING:
            stream = sys.stderr
            stream.write(message + "\n")
            stream.flush()

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _stderr_logger(*_args: object) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(level: str = "INFO") -> None:
    """JSON logs to stderr, so stdout stays for a command's own output."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True,
    )
