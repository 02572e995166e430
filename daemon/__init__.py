"""secondself: a voice-first personal AI that remembers, answers in your words, forgets for real."""

__version__ = "0.1.0"
