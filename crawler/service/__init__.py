"""Running crawls: once (`mediawatch crawl`), as the daemon, as Redis jobs; source health, the
operator watchdog and `mediawatch status`; delivering what the crawls queued."""
