"""The PostgreSQL engine of central's storage."""
