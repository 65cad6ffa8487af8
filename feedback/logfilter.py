"""A logging filter that redacts PII from every record a handler emits.

Django-free (logging is configured before apps load). Attached to the console
handler in settings, so request warnings, tracebacks and any app's messages are
redacted the same way as stored text.
"""

from __future__ import annotations

import logging

from feedback.redaction import redact


class RedactingFilter(logging.Filter):
    """Replaces the formatted message (and exception text) by its redaction."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message).text
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text).text
        return True
