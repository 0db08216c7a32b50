"""The sans-IO TCP engine: fed segments and `now`, returns segments and the next deadline."""
