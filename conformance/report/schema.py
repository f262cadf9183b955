"""The parity JSON's schema version."""

SCHEMA_VERSION = 1
