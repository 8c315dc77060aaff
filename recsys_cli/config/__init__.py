"""Recipe schema (frozen dataclasses) and the TOML loader with key-path errors."""
