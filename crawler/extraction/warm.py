"""Imported by the extraction workers' forkserver only: loads what extraction loads lazily.

The language model, trafilatura's and htmldate's compiled patterns and the parsers are then
in the forkserver's memory, which every worker it forks shares: a new worker starts with
nothing left to load rather than spending a second of CPU on its first page.
"""

import contextlib

from crawler.extraction.page import WARM_UP_PAGE, extract_page

with contextlib.suppress(Exception):
    extract_page(WARM_UP_PAGE, "http://127.0.0.1/warm-up")
