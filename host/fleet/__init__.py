"""Remote monitoring of the kiosk fleet (docs/console.md): heartbeats signed
like every kiosk message, the live state of each kiosk in memory, offline
detection, alerts, and commands with their acknowledgements. `service.Fleet`
is the whole of it; `api.fleet_routes` its HTTP endpoint."""
