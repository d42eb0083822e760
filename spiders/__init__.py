"""Scrapy spiders: discover article URLs from outlet data and fetch the pages.

Spiders never import storage/ or alerts/: they yield items, the pipelines decide.
"""
