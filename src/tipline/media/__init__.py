"""Media: hashing, hash banks, matching."""
