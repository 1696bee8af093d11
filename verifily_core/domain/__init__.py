"""Pure values and logic: rows, hashes, metrics, slices, comparisons, search spaces. No I/O ports."""
