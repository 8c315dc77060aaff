"""rank: offline evaluation of personalization — ranking and sequencing of items."""

__version__ = "0.1.0"
