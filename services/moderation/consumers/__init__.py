"""The moderation service's bus handlers: thin, each takes one validated bus message."""
