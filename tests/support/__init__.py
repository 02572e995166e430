"""Helpers shared by the tests: fakes of the stage Protocols, a virtual sound card, a loop thread, a photo rig, a terminal."""
