"""The web layer: what HTTP offers, the pages, and the guards in front of them.

Owns the route table (roles, input schemas), the OpenAPI description, the bundled PWA's routes and
headers, HTTP-level limits and the join-URL address. It calls the domain and must never import
`live`: what it needs from the sockets (roster, closing a revoked login's sockets) is declared as a
protocol and handed in by the wiring.
"""
