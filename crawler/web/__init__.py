"""`mediawatch web`: the search UI and JSON API (app, templates, static files)."""
