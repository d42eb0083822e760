"""Keyword rules, relevance scoring, and the email alerts and digests they trigger."""
