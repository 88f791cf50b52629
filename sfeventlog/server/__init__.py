"""Reference gRPC servers: sf-database (``database``) and sf-eventlog (``legacy``).

``runtime`` holds what both share (thread pool, limits, health, TLS,
metrics endpoint, SIGTERM handling); each service module only decodes,
validates and stores.
"""
