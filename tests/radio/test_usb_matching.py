"""USB dongles recognised from recorded udev properties (these machines have no USB; the
live udev monitor runs in hil_tests)."""

from __future__ import annotations

from radio.usb import recognise

IM871A = {
    "DEVNAME": "/dev/ttyUSB0",
    "ID_VENDOR_ID": "10c4",
    "ID_MODEL_ID": "87ed",
    "ID_MODEL": "iM871A-USB",
    "ID_SERIAL_SHORT": "0001",
}
FTDI_AMBER = {
    "DEVNAME": "/dev/ttyUSB1",
    "ID_VENDOR_ID": "0403",
    "ID_MODEL_ID": "6001",
    "ID_MODEL": "AMB8465-M",
    "ID_SERIAL_SHORT": "A1B2C3",
}
FTDI_PLAIN = {
    "DEVNAME": "/dev/ttyUSB2",
    "ID_VENDOR_ID": "0403",
    "ID_MODEL_ID": "6001",
    "ID_MODEL": "FT232R_USB_UART",
}
CP210X_IU891A = {
    "DEVNAME": "/dev/ttyUSB3",
    "ID_VENDOR_ID": "10c4",
    "ID_MODEL_ID": "ea60",
    "ID_MODEL": "iU891A-XL",
}
MOUSE = {"DEVNAME": "/dev/input/mouse0", "ID_VENDOR_ID": "046d", "ID_MODEL_ID": "c077"}


def test_imst_stick_is_recognised_by_its_ids() -> None:
    dongle = recognise(IM871A)
    assert dongle is not None and dongle.candidates == ("im871a",)
    assert dongle.device == "/dev/ttyUSB0"


def test_generic_ftdi_with_an_amber_product_name_probes_amber_first() -> None:
    dongle = recognise(FTDI_AMBER)
    assert dongle is not None and dongle.candidates[0] == "amb8465"


def test_plain_ftdi_bridge_lists_every_family_to_probe() -> None:
    dongle = recognise(FTDI_PLAIN)
    assert dongle is not None
    assert set(dongle.candidates) >= {"amb8465", "rc1180", "im871a", "iu891a"}


def test_generic_bridge_named_iu891a_probes_it_first() -> None:
    # Its own USB ids are not established: only the product string names it.
    dongle = recognise(CP210X_IU891A)
    assert dongle is not None and dongle.candidates[0] == "iu891a"
    dongle = recognise(FTDI_AMBER | {"ID_MODEL": "iM891A-XL adapter"})
    assert dongle is not None and dongle.candidates[0] == "iu891a"


def test_unrelated_usb_device_is_ignored() -> None:
    assert recognise(MOUSE) is None


def test_device_without_vendor_id_is_ignored() -> None:
    assert recognise({"DEVNAME": "/dev/ttyS0"}) is None
