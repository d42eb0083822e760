"""`mediawatch demo` and the small news site it serves (also the tests' fixture outlets)."""
