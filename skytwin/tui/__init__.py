"""The Textual control room (not built yet)."""
