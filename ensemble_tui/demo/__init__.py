"""The scripted model and the demo scenario: the real OpenCode with no API key."""
