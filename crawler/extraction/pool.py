"""Text extraction in worker processes, so CPU-bound parsing never stalls the downloads."""

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from crawler.extraction.page import Extracted, extract_page

logger = logging.getLogger(__name__)
EXTRACTION_TIMEOUT_S = 120


class ExtractionFailed(Exception):
    """Extraction of one page crashed or took too long; the page is counted as an error."""


class Extractor:
    """A pool of extraction processes (or none: `workers=0` extracts in the calling process)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: workers do not inherit the crawler's sockets, threads or reactor.
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("forkserver")
            )
        return self._pool

    async def extract(self, html: str, url: str, site_names: tuple[str, ...]) -> Extracted | None:
        if not self.workers:
            return extract_page(html, url, site_names)
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._get_pool(), extract_page, html, url, site_names)
            return await asyncio.wait_for(future, EXTRACTION_TIMEOUT_S)
        except BrokenProcessPool as exc:
            logger.error("extraction worker died on %s; starting new workers", url)
            self.close(wait=False)
            raise ExtractionFailed(f"extraction worker crashed: {exc}") from exc
        except TimeoutError as exc:
            raise ExtractionFailed(f"extraction took over {EXTRACTION_TIMEOUT_S}s") from exc

    def close(self, wait: bool = True) -> None:
        """Stop the workers; waiting lets them exit cleanly (no leaked semaphores)."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None
