"""pytest-benchmark integration (filled in below)."""
