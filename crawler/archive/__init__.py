"""The stored archive as people read it: search and one article (`reader`), the contract's JSON
and CSV shapes (`shapes`), and the dates users type (`since`). Shared by the CLI and the web UI."""
