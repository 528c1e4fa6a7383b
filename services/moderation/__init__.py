"""The moderation service: checks third-party push content before it is delivered."""
