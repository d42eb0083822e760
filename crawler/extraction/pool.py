"""Text extraction in worker processes, so CPU-bound parsing never stalls the downloads.

Each page gets a deadline. A worker that overruns it is killed and replaced, so one hostile
page costs one deadline, never the pool; ProcessPoolExecutor cannot kill one worker, hence
this small pool of our own. Workers die with the process that started them, even mid-page.
"""

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing import spawn
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

from crawler.extraction import LIBRARY_LOGGERS
from crawler.extraction.page import WARM_UP_PAGE, Extracted, extract_page

logger = logging.getLogger(__name__)
# Real pages take 10-35 ms, the largest about a second; a page still running after this is
# hostile or pathological, and its worker is killed.
EXTRACTION_DEADLINE_S = 30.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_ORPHAN_CHECK_S = 1.0
_START_TIMEOUT_S = 60.0
# Linux's default pipe capacity; a write up to this size returns at once.
_PIPE_BUFFER_BYTES = 64 * 1024
_READY = "ready"
_STOPPED = "extraction stopped: the crawl is shutting down"

_WORKER_NAME = "mediawatch-extract"

ExtractFunction = Callable[[str, str, tuple[str, ...]], Extracted | None]


def _preparation_data(name: str, _original: Any = spawn.get_preparation_data) -> Any:
    """What a new process is told to set up, minus the re-import of the program's __main__
    for extraction workers: they need only crawler.extraction, which the forkserver holds,
    and `mediawatch`'s __main__ would import the whole program (a second of CPU and tens
    of MB) in every worker."""
    data = _original(name)
    if name == _WORKER_NAME:
        data.pop("init_main_from_name", None)
        data.pop("init_main_from_path", None)
    return data


# multiprocessing's forkserver asks spawn.get_preparation_data(name) for each new process.
spawn.get_preparation_data = _preparation_data


class ExtractionFailed(Exception):
    """Extraction of one page crashed or took too long; the page is counted as an error.

    `overran` says the page itself is to blame (it ran past the deadline), so fetching it
    again would cost the same; a crash may be the machine's (out of memory) and is not.
    """

    def __init__(self, message: str, overran: bool = False) -> None:
        super().__init__(message)
        self.overran = overran


class Extractor:
    """Extraction workers (`workers=0`: in the crawler's process, off its event loop).

    Both modes give each page `deadline_s`. Inline, a thread that overruns cannot be killed:
    the page is failed, the thread left to finish, and later pages go to one worker process.
    """

    def __init__(
        self,
        workers: int,
        deadline_s: float = EXTRACTION_DEADLINE_S,
        extract: ExtractFunction = extract_page,
    ) -> None:
        self.workers = workers
        self.deadline_s = deadline_s
        self._extract = extract
        self._inline = workers == 0
        self._live: set[_Worker] = set()
        self._slots: asyncio.Queue[_Worker | None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0  # counts close() calls, for workers that were starting meanwhile

    async def extract(
        self,
        html: str,
        url: str,
        site_names: tuple[str, ...],
        give_up: Callable[[], bool] | None = None,
    ) -> Extracted | None:
        """The page's article, or None; ExtractionFailed when it crashed or overran, or when
        `give_up()` says, once a worker is free, that this page is no longer wanted."""
        loop = asyncio.get_running_loop()
        while True:
            slots = self._slots_for(loop)
            slot = await slots.get()  # the deadline starts when a worker is free, not before
            if slots is self._slots:
                break
            slots.put_nowait(slot)  # the pool was closed or left inline mode meanwhile
        if give_up is not None and give_up():
            slots.put_nowait(slot)
            raise ExtractionFailed("not extracted: given up while waiting for a worker")
        try:
            if self._inline:
                return await self._extract_inline(html, url, site_names)
            if slot is None:
                generation = self._generation
                slot = await asyncio.to_thread(self._start_worker)
                if generation != self._generation:  # closed while it started
                    self._retire(slot)
                    slot = None
                    raise ExtractionFailed(_STOPPED)
            worker = slot
            try:
                ok, value = await self._ask(worker, (html, url, site_names))
            except BaseException:
                slot = None  # mid-page or dead: its answer would go to the next page
                self._retire(worker)
                raise
        finally:
            slots.put_nowait(slot)
        if not ok:
            raise ExtractionFailed(f"extraction failed: {value}")
        return value

    def close(self, wait: bool = True) -> None:
        """Kill the workers at once, busy or not: they hold nothing worth waiting for."""
        del wait  # kept for callers of the former pool; there is never anything to wait for
        workers, self._live = list(self._live), set()
        self._generation += 1
        for worker in workers:
            worker.kill()
        for worker in workers:
            worker.reap()
        self._slots, self._loop = None, None

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        return sorted(w.pid for w in self._live if w.pid is not None)

    def _slots_for(self, loop: asyncio.AbstractEventLoop) -> "asyncio.Queue[_Worker | None]":
        """One slot per worker (None: not started yet), bound to the loop that awaits them."""
        if self._slots is None or self._loop is not loop:
            self._slots, self._loop = asyncio.Queue(), loop
            idle = list(self._live)
            for i in range(1 if self._inline else self.workers):
                self._slots.put_nowait(idle[i] if i < len(idle) else None)
        return self._slots

    def _start_worker(self) -> "_Worker":
        try:
            worker = _Worker(self._extract)
        except ExtractionFailed:
            raise
        except Exception as exc:  # out of processes or memory: this page fails, not the crawl
            raise ExtractionFailed(f"could not start an extraction worker: {exc}") from exc
        self._live.add(worker)
        return worker

    def _retire(self, worker: "_Worker") -> None:
        self._live.discard(worker)
        worker.kill()
        threading.Thread(target=worker.reap, daemon=True).start()

    async def _ask(self, worker: "_Worker", args: tuple[Any, ...]) -> tuple[bool, Any]:
        url = args[1]
        try:
            payload = ForkingPickler.dumps(args)  # what Connection.send writes; recv() reads it
            if len(payload) <= _PIPE_BUFFER_BYTES:
                worker.conn.send_bytes(payload)  # fits the pipe: never waits for the worker
            else:  # a large page waits for the worker to read it: not on the event loop
                await asyncio.to_thread(worker.conn.send_bytes, payload)
            await worker.answer(self.deadline_s)
            reply: tuple[bool, Any] = worker.conn.recv()
        except TimeoutError:
            logger.warning(
                "extraction of %s ran past %gs; its worker was replaced", url, self.deadline_s
            )
            raise ExtractionFailed(
                f"extraction ran past the {self.deadline_s:g}s deadline", overran=True
            ) from None
        except (EOFError, OSError) as exc:
            if worker.killed:
                raise ExtractionFailed(_STOPPED) from exc
            logger.error("extraction worker died on %s; starting a new one", url)
            raise ExtractionFailed(f"extraction worker died: {exc or type(exc).__name__}") from exc
        return reply

    async def _extract_inline(
        self, html: str, url: str, site_names: tuple[str, ...]
    ) -> Extracted | None:
        future = _in_daemon_thread(self._extract, html, url, site_names)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.deadline_s)
        except TimeoutError:
            logger.warning(
                "extraction of %s ran past %gs in the crawler's process; from now on pages go "
                "to a worker process, which can be stopped",
                url,
                self.deadline_s,
            )
            self._inline, self.workers, self._slots = False, 1, None
            raise ExtractionFailed(
                f"extraction ran past the {self.deadline_s:g}s deadline", overran=True
            ) from None
        except Exception as exc:
            raise ExtractionFailed(f"extraction failed: {type(exc).__name__}: {exc}") from exc


class _Worker:
    """One extraction process and the pipe it answers on."""

    def __init__(self, extract: ExtractFunction) -> None:
        # forkserver: workers do not inherit the crawler's sockets, threads or reactor; the
        # forkserver imports trafilatura and loads the models once (crawler.extraction.warm),
        # so a worker starts in milliseconds and shares them.
        self.pid: int | None = None
        self.killed = False
        self._waiting: asyncio.Future[None] | None = None  # set first: kill() reads it
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["crawler.extraction.warm"])
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve,
            args=(child, extract, os.getpid(), _library_levels()),
            name=_WORKER_NAME,
            daemon=True,
        )
        self.process.start()
        child.close()
        # A new worker loads its models on its first page; that is not the page's time.
        try:
            ready = self.conn.poll(_START_TIMEOUT_S) and self.conn.recv() == _READY
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            self.reap()
            raise ExtractionFailed(f"an extraction worker did not start in {_START_TIMEOUT_S}s")
        self.pid = self.process.pid

    async def answer(self, timeout: float) -> None:
        """Wait, without a thread, until the worker answers (or dies); TimeoutError past
        `timeout`."""
        loop = asyncio.get_running_loop()
        self._waiting = ready = loop.create_future()
        fd = self.conn.fileno()
        loop.add_reader(fd, _settle, ready)
        try:
            await asyncio.wait_for(ready, timeout)
        finally:
            self._waiting = None
            with contextlib.suppress(OSError, ValueError):
                loop.remove_reader(fd)

    def kill(self) -> None:
        """SIGKILL: the worker may be deep in C code, where nothing else reaches it."""
        self.killed = True
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()
        if (waiting := self._waiting) is not None:  # wake the page awaiting it: it failed
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                waiting.get_loop().call_soon_threadsafe(_settle, waiting)

    def reap(self) -> None:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            self.process.join(5)
            self.process.close()
        self.conn.close()


def _settle(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)


def _library_levels() -> dict[str, int]:
    return {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}


def _serve(conn: Connection, extract: ExtractFunction, owner: int, levels: dict[str, int]) -> None:
    """A worker's life: answer pages until the pipe closes or the owner dies."""
    _die_with_parent(owner)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the crawler to handle
    for name, level in levels.items():  # as quiet (or, with -v, as loud) as the crawler
        logging.getLogger(name).setLevel(level)
    with contextlib.suppress(Exception):
        extract_page(WARM_UP_PAGE, "http://127.0.0.1/warm-up")
    conn.send(_READY)
    while True:
        try:
            args = conn.recv()
        except (EOFError, OSError):
            return  # the crawler closed the pipe or died
        try:
            reply: tuple[bool, Any] = (True, extract(*args))
        except Exception as exc:  # one page's bug must not end the worker
            reply = (False, f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return


def _die_with_parent(owner: int) -> None:
    """Exit when the crawler dies, even while busy in C code that holds the GIL.

    The parent is the forkserver, which exits when the crawler does: on Linux the kernel then
    kills us (PR_SET_PDEATHSIG); elsewhere a thread notices the owner is gone.
    """
    parent = os.getppid()
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent or not _alive(owner):
        os._exit(1)  # the owner died before the signal was armed

    def watch() -> None:
        while os.getppid() == parent and _alive(owner):
            time.sleep(_ORPHAN_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _in_daemon_thread(function: Callable[..., Any], *args: Any) -> "Future[Any]":
    """Run `function` in a thread that never holds up the interpreter's exit."""
    future: Future[Any] = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(function(*args))
            except BaseException as exc:
                future.set_exception(exc)

    threading.Thread(target=run, name="mediawatch-extract-inline", daemon=True).start()
    return future
