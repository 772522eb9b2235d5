"""Pure work on PNGs, no I/O: the blank judgement, the difference between two screenshots,
the thumbnail."""
