"""mediawatch's driving code: configuration, Scrapy wiring, pipelines, daemon, CLI and web."""

__version__ = "0.1.0"
