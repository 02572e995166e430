"""Shared by every stage, importing nothing of ours: events, bus, errors, config, Protocols."""
