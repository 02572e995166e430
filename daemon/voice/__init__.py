"""The voice path: sound devices, wake word, VAD, endpointing, listener, STT, TTS, the loop."""
