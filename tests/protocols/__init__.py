"""Tests of the protocols package: link layer, records, security, meter drivers, vectors."""
