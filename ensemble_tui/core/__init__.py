"""The coordinator's core: no Textual here, usable headless and from tests."""
