"""`minitcp shell`: an interactive prompt driving minitcp and its peer one socket call at a time."""
