"""Recipe schema (frozen pydantic dataclasses), the TOML loader with key-path errors, and the
recipe's JSON Schema (`rank schema`)."""
