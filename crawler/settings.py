"""Scrapy settings: Scrapy knobs only. mediawatch's crawl context travels on the Crawler.

`scrapy.cfg` points here, so `scrapy crawl outlet -a outlet=ID` works from a checkout.
"""

from typing import Any

from scrapy.settings import Settings

from crawler.config import Config
from spiders.outlet import DiscoveryLimits
from spiders.outlets import Outlet

BOT_NAME = "mediawatch"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

USER_AGENT = "mediawatch/0.1 (news monitoring; contact: see [crawl] user_agent)"
ROBOTSTXT_OBEY = True
DOWNLOAD_DELAY = 1.0
DOWNLOAD_DELAY_JITTER = 0.5
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
DEPTH_LIMIT = 4  # a sitemap index of sitemap indexes, at most
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"

ITEM_PIPELINES = {
    "crawler.pipelines.ExtractPipeline": 100,
    "crawler.pipelines.ArticlePipeline": 200,
    "crawler.pipelines.ScorePipeline": 300,
    "crawler.pipelines.StorePipeline": 400,
}
# The network guard first (before robots.txt is asked for), then the per-run article budget
# (before the known-URL lookup, so a spent budget costs no database query), then known URLs.
DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.NetworkGuardMiddleware": 40,
    "crawler.middlewares.ArticleBudgetMiddleware": 45,
    "crawler.middlewares.KnownUrlMiddleware": 50,
    # Between the cache and Scrapy's RedirectMiddleware (600), so it sees each 3xx first.
    "crawler.middlewares.RedirectLoopMiddleware": 650,
}
# http(s) only: a feed must not make the crawler read files, S3 buckets or FTP servers.
DOWNLOAD_HANDLERS = {"file": None, "s3": None, "ftp": None, "data": None}
# No proxy from http_proxy/https_proxy: a proxy resolves names itself, past the network guard.
HTTPPROXY_ENABLED = False
# Same-priority requests in the order the spider yields them (it yields newest first).
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"
# A page gives one article, a feed a few hundred requests: Scrapy starts this many tasks for
# every callback's output (and every errback's), which at its default (100) made a feed of
# 5,000 dead links cost seconds of bookkeeping alone.
CONCURRENT_ITEMS = 8
REQUEST_FINGERPRINTER_CLASS = "spiders.fingerprints.ArticleFingerprinter"
EXTENSIONS = {
    "crawler.extensions.CrawlRunRecorder": 500,
    # Validators for conditional requests, and backfill progress (crawl --since).
    "crawler.extensions.SourceMemory": 510,
    # Hands each outlet's spider its stored articles due a re-check for edits.
    "crawler.runtime.rechecks.RecheckHandOver": 520,
}
# For `scrapy crawl outlet -a outlet=ID` from a checkout: a context from the usual config.
ADDONS = {"crawler.extensions.StandaloneCrawl": 0}


def module_settings() -> dict[str, Any]:
    """This module's upper-case names: the base every mediawatch crawl starts from."""
    return {k: v for k, v in globals().items() if k.isupper()}


def config_settings(config: Config) -> dict[str, Any]:
    """The Scrapy knobs that mediawatch.toml's [crawl] section sets."""
    crawl = config.crawl
    return {
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "AUTOTHROTTLE_START_DELAY": max(crawl.download_delay, 0.1),
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_outlet,
        "DOWNLOAD_TIMEOUT": crawl.timeout.total_seconds(),
        "RETRY_TIMES": crawl.retries,
        "DOWNLOAD_MAXSIZE": int(crawl.max_page_mb * 1024 * 1024),
        "DOWNLOAD_WARNSIZE": int(crawl.max_page_mb * 1024 * 1024 * 0.5),
        "CLOSESPIDER_TIMEOUT": crawl.run_timeout.total_seconds(),
    }


def discovery_limits(config: Config) -> DiscoveryLimits:
    """The spider's share of [crawl]'s bounds (the article budget is the middleware's)."""
    return DiscoveryLimits(
        max_sitemap_entries=config.crawl.max_sitemap_entries,
        max_child_sitemaps=config.crawl.max_child_sitemaps,
    )


def crawl_settings(config: Config, outlet: Outlet) -> Settings:
    """Scrapy settings for crawling one outlet under this configuration."""
    settings = Settings(module_settings())
    settings.setdict(config_settings(config), priority="cmdline")
    return settings
