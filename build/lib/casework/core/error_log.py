"""Everything that is not a user's error: the user sees one line with a reference while
the traceback goes, scrubbed of anything a client told us, to a private log in the data
directory."""

from __future__ import annotations

import logging
import os
import re
import secrets
import traceback
from datetime import UTC, datetime
from pathlib import Path

from casework.core.settings import default_data_dir

ERROR_LOG = "errors.log"
_SCRUB = [
    # SQLAlchemy's statement parameters, pydantic's echoed input, PostgreSQL's row details:
    # each may carry what a client told us. The engine hides parameters too; this is the
    # second lock on the same door.
    (re.compile(r"\[parameters: .*?\]$", re.MULTILINE), "[parameters: removed]"),
    (re.compile(r"input_value=.*?, input_type=", re.DOTALL), "input_value=(removed), input_type="),
    (re.compile(r"^(\s*)DETAIL: .*$", re.MULTILINE), r"\1DETAIL: (removed)"),
    (re.compile(r"^(\s*)Key \(.*$", re.MULTILINE), r"\1Key (removed)"),
]


def scrubbed(text: str) -> str:
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return text


def record_unexpected(exc: BaseException, command: str) -> tuple[str, Path]:
    """Write the traceback, scrubbed, to the data directory's 0600 error log; return the
    reference the user quotes and where the log is. Never the command's arguments: they
    may hold a note's text."""
    return log_traceback("".join(traceback.format_exception(exc)), f"casework {command}")


def log_traceback(text: str, where: str) -> tuple[str, Path]:
    data_dir = default_data_dir()
    reference = f"E-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    path = data_dir.resolve() / ERROR_LOG
    entry = f"--- {reference} {datetime.now(UTC).isoformat()} {where}\n{scrubbed(text)}\n"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(entry)
    except OSError:
        pass  # the one line to the user still goes out
    return reference, path


class TracebacksToErrorLog(logging.Filter):
    """On a console handler of `casework up`: a log record's traceback (a library's
    websocket giving up, a runner poll that failed) goes to the error log; the terminal
    keeps the record's one line, with the reference."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            text = "".join(traceback.format_exception(*record.exc_info))
            reference, _ = log_traceback(text, f"casework up: {record.name}")
            record.msg, record.args = f"{record.getMessage()} (traceback: {reference})", ()
            record.exc_info, record.exc_text = None, None
        return True


def keep_tracebacks_off_the_console() -> None:
    """Attach TracebacksToErrorLog to every handler configured so far (Prefect's console
    handlers exist once Prefect is imported)."""
    quiet = TracebacksToErrorLog()
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, TracebacksToErrorLog) for f in handler.filters):
                handler.addFilter(quiet)
