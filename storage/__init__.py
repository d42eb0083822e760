"""Persistence: SQLAlchemy models, engine and session setup, migrations and queries.

Imports nothing else of mediawatch, so every other part can depend on it.
"""
