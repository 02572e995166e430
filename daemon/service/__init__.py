"""The running service: App, session builder, run loop, systemd, metrics, logs, hardware."""
