"""The property office's web console (docs/console.md): staff accounts and
sessions, the fleet at a glance with live updates, each kiosk's history and
commands, transaction search and CSV export, reconciliation, the audit log.
`mount.management_routes` puts it (and the fleet's heartbeat endpoint) into
the host app."""
