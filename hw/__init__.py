"""Hardware adapters (button, camera, LED). Nothing here touches hardware at import time."""
