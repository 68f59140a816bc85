"""The demo, apart from the product: `kiosk demo` (runner), the reference host
as a process and `kiosk host …` (host: the one kiosk module that imports the
host package), the device bench beside the kiosk (bench/), simulated touch
(touch) and the screenshot tour that doubles as the UI tests' driver (tour/).
Nothing else in kiosk imports this package."""
