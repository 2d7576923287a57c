"""uplink package (built in a later issue)."""
