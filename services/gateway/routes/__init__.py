"""The gateway's HTTP handlers: thin, they parse the request and call a use-case."""
