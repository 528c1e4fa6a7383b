"""Auth's HTTP handlers."""
