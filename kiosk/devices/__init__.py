"""Device ports (small interfaces the services use) and their adapters.
Real and simulated devices differ only at the transport: the simulators in
devices/sim speak the same bytes on a pty or TCP port, so these drivers run."""
