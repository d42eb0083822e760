"""Clean text and metadata out of article pages: the one trafilatura importer (`page`) and the
process pool that runs it off the event loop (`pool`)."""
