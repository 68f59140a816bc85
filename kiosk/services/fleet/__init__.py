"""The kiosk's side of remote monitoring (docs/console.md): a heartbeat every
`interval_s` seconds with the kiosk's state, and the commands staff send,
run one at a time and only at a safe point - never while a transaction runs.

The modules, by job:
- service: FleetService - heartbeats, the command queue, the safe point, out
  of service, the state kept across restarts;
- devices: the device board and the port wrappers that report on it;
- status: the journal's figures and the printer's paper for the heartbeat;
- commands: what a command handler returns, and the payment service's commands;
- log: the last warning or error log line, for the heartbeat;
- ports: what the fleet needs from the rest of the kiosk (Protocols).

What the composition root and the UI do with it:
- build it with a FleetClient, a status provider (status.JournalStatus) and
  the command handlers (commands.payment_command_handlers + reload_config /
  restart_app), `await fleet.start()` after the payment service started,
  `await fleet.stop()` before closing;
- flows hold `await fleet.begin_transaction()` ... `handle.end()` (or
  `async with fleet.transaction():`) from the moment a card is asked for until
  the result is shown: commands wait for it, and it raises OutOfService
  (kiosk.domain.errors) when staff took the kiosk out of service;
- the UI subscribes with `fleet.on_out_of_service_change(callback)` and shows
  the out-of-service screen while `fleet.out_of_service`; it sets
  `fleet.screen` to the current screen's name;
- flows report device faults on `fleet.devices` (or wrap the ports with
  devices.watch_payment_devices).

Nothing is re-exported here: import each name from its module."""
