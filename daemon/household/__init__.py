"""The household: users, their personas, and which wake word calls whose persona."""
