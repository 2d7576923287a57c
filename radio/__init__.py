"""The radio modules: a driver per module family turning a serial byte stream into
:class:`~radio.frame.RadioFrame` objects, the serial transport, USB detection, and module
emulators with a simulated meter field (``radio.sim``) for tests and demos.
"""
