"""Hardware adapters (button, camera, LED). Nothing here touches hardware at import time.

Modules, one job each:
- button.py: press/release times -> short, long, double (pure) and the gpiozero Button
- camera.py: the Camera Protocol; OpenCV (index, file, GStreamer) and command cameras
- led.py: bus events -> LED state (pure) and an RGB or PWM LED through gpiozero
- earcons.py: short sounds made with numpy (listening, saved, error, shutter, mute)
- memo.py: a voice memo recorder over 80 ms frames (pure), and its WAV bytes
- voice_hooks.py: where the device meets the voice loop (memo frames, captions, mute)
- device.py: the glue: presses and "take a picture" -> memos, photos, mute
- setup.py: build all of it from the config; absent hardware is one log line
"""
