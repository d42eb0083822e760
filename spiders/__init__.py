"""Scrapy spiders: discover article URLs from outlet data and fetch the pages.

Also what they need to do it: the outlet model and catalogue, URL identity, dates, feed and
sitemap parsing. Spiders import nothing of storage/, alerts/ or crawler/: they yield items,
crawler/'s pipelines decide.
"""
