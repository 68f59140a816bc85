"""What the kiosk and the host both speak; imports neither `kiosk` nor `host`."""
