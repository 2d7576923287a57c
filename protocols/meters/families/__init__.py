"""Drivers written in Python for meter families whose payloads need code (manufacturer-
specific layouts, obfuscation). Each module here defines ``DRIVERS``, a tuple of driver
instances; :mod:`protocols.meters.registry` collects them all, so a new family is one new
module and nothing else to edit."""
