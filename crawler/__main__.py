"""`python -m crawler` is `mediawatch`."""

from crawler.cli.commands import main

main()
