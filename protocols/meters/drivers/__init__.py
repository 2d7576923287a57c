"""The package's data drivers: one TOML file per meter family (schema:
:mod:`protocols.meters.data_driver`; docs/meters.md, "Drivers as data")."""
