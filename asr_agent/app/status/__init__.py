"""The agent's local status page: a read-only view of the store on loopback, with
`/api/status.json`, `/healthz` and `/metrics` rendering the same snapshot."""
