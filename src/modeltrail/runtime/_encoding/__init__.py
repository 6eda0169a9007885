"""Private: the exact, fast encoders of decision events (per row and column-wise), behind the guard."""
