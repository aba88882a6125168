"""The appliance layer: the machine and the LAN around the box.

Owns mDNS, network addresses, QR codes, TLS certificates, sd_notify, the serve lock and backups.
It serves the wiring on top (`server.py`, `cli.py`) and must never import the domain, `live` or
`web`: none of it knows what a lecture is.
"""
