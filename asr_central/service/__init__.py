"""Central's HTTP service and its work: the app, its routes (api/), replenishment,
retention and notification. Storage is `asr_central.storage`; rules `asr_central.domain`."""
