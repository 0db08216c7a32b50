"""The sans-IO TCP engine, fed segments and time by hand (`Peer`, the builders) or through an EnginePair."""
