"""What a running crawl shares (configuration, database, rules, extraction workers), carried by
each Scrapy Crawler to the pipelines, middlewares and extensions at crawler/'s root."""
