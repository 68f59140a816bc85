"""What the kiosk and the host both speak: money, house numbers, bank-card
numbers, DES/MAC/PIN-block crypto, the e-purse's types and its issuer side,
settings files, the demo cards and the message catalogues. Imports neither
`kiosk` nor `host` (import contract `common-neutral`)."""
