"""The SQLite engine of `asr_central.storage.base`: the file, its connections, transactions,
group commit and migrations (`db`). The SQL of each subject is in `asr_central.storage`.
"""
