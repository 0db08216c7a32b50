"""Wire formats: parse and build, checksums, GRO and TSO cutting, the C extension against its twin."""
