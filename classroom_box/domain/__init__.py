"""The classroom itself: state, rules and the event log; nothing here knows how devices connect.

Owns the SQLite store (the one writer), the durable event log and its event names, lectures,
classes, accounts and logins, the scheduler and the input rules. It must never import `live`,
`web`, `appliance` or the wiring on top: sockets hear about new events only through the publisher
handed to `EventLog` at construction, and HTTP calls in from above.
"""
