"""Ctrl-C and SIGTERM during `mediawatch crawl`: recorded from the command's first line on,
acted on by the crawl loop. Scrapy is imported only when a crawl is watched, so that the
command can hold the signals before it spends a second importing the crawl code."""

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """SIGINT or SIGTERM stops the crawls cleanly (what they finished is recorded, so a
    backfill continues where it stopped); a second signal stops at once.

    The signals are caught from `held()` on, before the database is opened and the reactor
    started, so that a Ctrl-C in the first seconds is never lost. The handler only records
    the signal (Python runs it between any two bytecodes) and, once the crawls run, schedules
    `enforce()` on their loop at once; the crawl loop also calls it every tick. It acts, since
    Scrapy can only stop an engine that runs: a crawl whose spider has not opened yet closes
    as it opens, one whose engine is running is stopped, and one in between is stopped at the
    next tick. A stopped crawl still finishes the requests
    it had handed to the downloader (Scrapy closes a spider when they are done), so that the
    sitemaps and listing pages they complete are recorded as finished.
    """

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None
        self.crawlers: list[Crawler] = []
        self._told = False
        self._stops: set[asyncio.Future[None]] = set()  # kept: the loop holds tasks weakly
        self._loop: asyncio.AbstractEventLoop | None = None  # the crawls', once they start
        self.step: str | None = None  # the command's work after the crawls, under way (finishing)

    @contextlib.contextmanager
    def held(self) -> Iterator["StopOnSignal"]:
        """SIGINT and SIGTERM are this object's inside the block; the old handlers after."""
        previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        sig = signal.Signals(signum)
        if self.signal is None:
            self.signal = sig
            if self.step is not None:  # the crawls are over: say what is being waited for
                _say(f"{sig.name}: stopping after {self.step} (a second one stops at once)")
            elif self._loop is not None:  # act now, not at the next tick (thread- and signal-safe)
                with contextlib.suppress(RuntimeError):  # the loop has closed
                    self._loop.call_soon_threadsafe(self.enforce)
            return
        # Not SystemExit: the reactor would not stop, and the interpreter would wait forever
        # for Twisted's thread pool at exit. What finished is committed already.
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        _say(f"{sig.name} again: stopping at once")
        os._exit(128 + sig)

    def finishing(self, step: str) -> None:
        """The crawls are over and the command is at `step` ("the alerts' delivery"), which
        a signal does not cut short: a first signal now says what it waits for, where it
        once said nothing (a snapshot's refresh takes a minute at 200,000 articles)."""
        self.step = step

    def watch(self, crawler: "Crawler") -> None:
        """Stop this crawl too; called before it starts, so it never opens after a signal."""
        from scrapy import signals

        self.crawlers.append(crawler)
        with contextlib.suppress(RuntimeError):  # called outside the loop: ticks only
            self._loop = asyncio.get_running_loop()
        crawler.signals.connect(self._refuse_to_open, signal=signals.spider_opened)

    def _refuse_to_open(self, spider: Any) -> None:
        from scrapy.exceptions import CloseSpider

        if self.signal is not None:
            raise CloseSpider("shutdown")

    def enforce(self) -> None:
        """After a signal: stop what can be stopped now (again each tick until all ended)."""
        if self.signal is None:
            return
        if not self._told:
            self._told = True
            logger.warning("%s: stopping the crawls (a second one stops at once)", self.signal.name)
        for crawler in self.crawlers:
            try:
                engine = crawler.engine
            except RuntimeError:  # not started: its spider closes as it opens
                continue
            if crawler.crawling and engine.running:
                task = asyncio.ensure_future(_stop_running(crawler))
                self._stops.add(task)
                task.add_done_callback(self._stops.discard)


def _say(line: str) -> None:
    """One line on stderr from a signal handler: os.write, since the handler may run in the
    middle of a write to sys.stderr."""
    with contextlib.suppress(OSError):
        os.write(2, f"mediawatch: {line}\n".encode())


async def _stop_running(crawler: "Crawler") -> None:
    """Crawler.stop_async, only while its engine runs: called before, it marks the crawler
    stopped and stops nothing, and the crawl then runs to its end and never returns (the
    engine waits for the stop that was skipped)."""
    if crawler.crawling and crawler.engine.running:
        await crawler.stop_async()
