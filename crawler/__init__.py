"""mediawatch's driving code: Scrapy's files at the root (settings, pipelines, middlewares,
extensions), and rooms for configuration, the crawl runtime, extraction, the archive, services
(crawls, daemon, jobs, health), the command line, the web UI and the demo."""

__version__ = "0.1.0"
