"""Logging to stderr, as text or JSON lines, with Scrapy's chatter kept to warnings."""

import json
import logging
import sys
from datetime import UTC, datetime

from crawler.extraction import LIBRARY_LOGGERS


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(verbose: bool = False, fmt: str = "text") -> None:
    """Configure the root logger once for a mediawatch command."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    quiet = logging.INFO if verbose else logging.WARNING
    for name in (
        "scrapy",
        "twisted",
        "asyncio",
        "urllib3",
        "filelock",
        "alembic",
        "apscheduler.executors",
        "apscheduler.scheduler",
    ):
        logging.getLogger(name).setLevel(quiet)
    # Extraction libraries complain, even at ERROR, about every odd page; the crawl counts
    # what matters as `extraction` or `not_article`, and `rules explain` says it in one line.
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.CRITICAL + 1)
    # These repeat, with a traceback, failures the spider already counts and logs in one line.
    for name in ("scrapy.downloadermiddlewares.robotstxt", "scrapy.downloadermiddlewares.retry"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.CRITICAL)
    # Item-level warnings ("gone", "blocked"...) stay visible: they are the user's signal.
    logging.getLogger("outlet").setLevel(logging.INFO if verbose else logging.WARNING)
