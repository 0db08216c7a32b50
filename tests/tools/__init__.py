"""The tools around the stack: CLI, bench bookkeeping, conformance runner, labs, trace/pcap/ss/svg."""
