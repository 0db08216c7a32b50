"""`minitcp soak`: the stack on a TUN device under a hostile network, with legitimate users.

One concept a module: `packets` makes the hostile packets, `generator` is the
attacker's process that sends them (and a SYN flood), `clients` the legitimate
kernel clients whose bytes are checked by SHA-256, `report` the figures and the
verdict, and `run` puts them together in a private network namespace.
"""
