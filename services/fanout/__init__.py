"""The fanout service: expands a group link's pushes to its subscribers."""
