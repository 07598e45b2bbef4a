"""The PostgreSQL engine of `asr_central.storage.base`: a connection pool, transactions,
group commit and migrations (`db`), and how portable SQL is said to PostgreSQL (`dialect`).
The SQL of each subject is in `asr_central.storage`.
"""
