"""The shared vocabulary every layer speaks, importing nothing of the project above it: the
network spec, the runtime records, the frozen Case, the sampling policy and timing loop,
Measurement and its statistics (and the comparison statistics on per-process values)."""
