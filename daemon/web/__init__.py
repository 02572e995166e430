"""The local web page: memories, snapshots, conversations with their personal score and
sources, personas, sharing and live stage timings, on the daemon's one HTTP port (a FastAPI
app served by uvicorn in the daemon's loop, offline: the page, its script and its style ship
in `static/`); beside it, the OpenAI- and Ollama-compatible chat APIs other programs use,
each with a token of its own."""
