"""Helpers that tests in more than one folder use."""
