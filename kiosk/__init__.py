"""Self-service payment kiosk for residential estates."""
