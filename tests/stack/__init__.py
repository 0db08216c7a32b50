"""The stack on memory links: what it answers and drops, GRO, faults, the apps, the control socket."""
