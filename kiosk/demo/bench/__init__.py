"""The device bench: demo-only panel beside the kiosk screen where simulated
devices live and where a tester can break things (host, network, devices)."""
