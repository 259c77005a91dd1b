"""Keep email addresses out of the logs: they are personal data, and logs travel further
(log services, support tickets) than the database does."""

import logging
import re

EMAIL_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"'`]+@[^\s@<>()\[\],;:\"'`]+\.[^\s@<>()\[\],;:\"'`.]+")
REDACTED = "[email address]"


def redact_emails(text: str) -> str:
    return EMAIL_ADDRESS.sub(REDACTED, text)


class RedactEmails(logging.Filter):
    """Rewrites each record's message, and its traceback text, with addresses redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_emails(record.getMessage())
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_emails(record.exc_text)
        return True
