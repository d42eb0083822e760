"""`python -m crawler` is `mediawatch`."""

from crawler.cli import main

main()
