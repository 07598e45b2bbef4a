"""HTTP routers that plug into the central app: registry, orders (with the policy run),
alerts. Each module exposes `router`; orders also the after-ingest hook."""
