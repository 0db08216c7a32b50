"""The test suite, a package so that each folder's helpers are imported by relative import."""
