"""Clean text and metadata out of article pages: the one trafilatura importer (`page`) and the
process pool that runs it off the event loop (`pool`)."""

# The extraction libraries' loggers: their errors are about odd pages, which a crawl counts in
# its own words; the command line shows them only with -v (crawler.cli.logs), workers copy it.
LIBRARY_LOGGERS = ("trafilatura", "htmldate", "courlan", "justext")
