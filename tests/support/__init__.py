"""Helpers shared by the tests: fakes of the stage Protocols, a virtual sound card and matching what it heard, a loop thread, a photo rig, a terminal."""
