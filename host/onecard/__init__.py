"""The estate one-card in the host (MIFARE Classic 1K, issue 14; docs/onecard.md
"The host"): the registry and the mirror (the authority), the signed kiosk
routes (keys, present, authorise, confirm, cancel) on the bank's
SecureChannel, the sector keys delivered encrypted for one session, and the
cards refused and flagged for staff. Its tables are host.schema.onecard."""
