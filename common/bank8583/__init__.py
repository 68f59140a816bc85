"""The bank link's wire: ISO 8583 in the style of China's bank POS front-ends
(`../shared/BANK-8583.md`, docs/bank-link.md). Pure: bytes in, bytes out; the
kiosk's client and the host's front-end bring the sockets.

- `spec`: the field table, and the pyiso8583 spec made from it
- `codec`: a `Message` (MTI and fields) to bytes and back, through pyiso8583
- `framing`: LEN, TPDU and header around a message
- `fields`: the composite fields (48, 53, 54, 60, 61)
- `keys`: 3DES with the K‖K rule, check values, field 62's working keys
- `tracks`: track 2 encrypted under the TDK
- `mac`: the ECB and X9.19 MACs of field 64
- `wire`: a whole frame built and parsed (framing + codec + MAC)
- `errors`: one exception tree for everything malformed
"""
