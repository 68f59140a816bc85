"""Simulated devices at the transport: they speak the real byte protocols on a
pseudo-terminal (card reader, PIN pad) or a local TCP port (receipt printer),
so the real drivers run unchanged against them. Used by the demo, the device
bench and the tests."""
