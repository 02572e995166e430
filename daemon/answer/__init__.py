"""One conversation turn: intent, recall, time, prompt, local and cloud models, score, fixes."""
