"""EI Electronics Ei6500 smoke alarms (wireless M-Bus): driver ``ei6500``.

Facts (the triple, field names, the records they come from, the layout of the head status
word) as wmbusmeters' driver src/driver_ei6500.cc declares them; the dust counter and the
cleaning recommendation (from dust level 28 on) as its later test output shows them.

The alarm, removal and test-button events are standard records of subunit 1, one tariff
each (1 alarm, 2 removal, 3 test button). Why code: the head status is one manufacturer
record (``84 40 FF 2C``, subunit 1) packing several values into one 32-bit word:

============  ==========================================================
bits          what
============  ==========================================================
0x0000001F    dust level (0 clean; cleaning is recommended from 28 on)
0x000000E0    sounder fault, tamper while removed, end of life reached
0x00000F00    battery voltage, 2.25 V + 0.05 V per step
0x000FF000    fault and state flags (table :data:`_HEAD_FLAGS`); 0x10000 *clear*
              means the obstacle self-test has not completed yet
0x00700000    obstacle distance code (:data:`_OBSTACLE`)
0x03000000    obstacle detected, detector fully covered
============  ==========================================================

Smoke alarms are not reported in ``status``: read the alarm counter and date.
"""

from __future__ import annotations

from protocols.meters.base import Fields
from protocols.meters.fieldspec import FieldSpec, Match, Quantity, field
from protocols.meters.lookup import BitLookup, join_status
from protocols.meters.mfct import error_flags_status, record_by_key
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import VifRange
from protocols.telegram import Telegram

_HEAD = "8440FF2C"
_DUST_MASK = 0x1F
_CLEANING_FROM = 28
_BATTERY_MASK = 0x0F00
_OBSTACLE_MASK = 0x700000
_SELF_TEST_DONE = 0x10000
_HEAD_FLAGS = BitLookup(
    "HEAD_STATUS",
    {
        0x00000020: "SOUNDER_FAULT",
        0x00000040: "TAMPER_WHILE_REMOVED",
        0x00000080: "EOL_REACHED",
        0x00001000: "LOW_BATTERY_FAULT",
        0x00002000: "ALARM_SENSOR_FAULT",
        0x00004000: "OBSTACLE_DETECTOR_FAULT",
        0x00008000: "EOL_WITHIN_12_MONTH",
        0x00020000: "ENV_CHANGED_SINCE_INSTALLATION",
        0x00040000: "COMM_TO_HEAD_FAULT",
        0x00080000: "INTERFERENCE_PREVENTING_OBSTACLE_DETECTION",
        0x01000000: "OBSTACLE_DETECTED",
        0x02000000: "SMOKE_DETECTOR_FULLY_COVERED",
    },
    mask=0xFF8EF0E0,  # the value fields and the self-test bit are read separately
)
# Obstacle distance codes; code 1 means no obstacle (printed empty).
_OBSTACLE = {
    0: "SEODS_NOT_COMPLETED",
    1: "",
    2: "45_TO_60_CM",
    3: "38_TO_53_CM",
    4: "33_TO_48_CM",
    5: "28_TO_40_CM",
    6: "20_TO_33_CM",
    7: "0_TO_25_CM",
}


def _event(
    date: str, count: str, tariff: int, date_info: str, count_info: str
) -> tuple[FieldSpec, FieldSpec]:
    """When an event (alarm, removal, test; told apart by tariff, subunit 1) last happened
    and how often it did."""
    return (
        field(date, Quantity.DATE, Match(VifRange.DATE, tariff=tariff, subunit=1), info=date_info),
        field(
            count,
            Quantity.DIMENSIONLESS,
            Match(VifRange.CUMULATION_COUNTER, tariff=tariff, subunit=1),
            raw=True,
            info=count_info,
        ),
    )


_SPECS = (
    # The meaning of the error flag bits is not published for these alarms.
    error_flags_status(tpl=True),
    *_event(
        "last_alarm_date",
        "alarm",
        1,
        "When the smoke alarm last went off.",
        "How often the smoke alarm went off.",
    ),
    field(
        "software_version",
        Quantity.TEXT,
        Match(VifRange.SOFTWARE_VERSION),
        info="Software version.",
    ),
    field(
        "message_datetime",
        Quantity.DATE,
        Match(VifRange.DATE_TIME),
        info="The alarm's date and time.",
    ),
    field(
        "duration_removed",
        Quantity.TIME,
        Match(VifRange.TARIFF_PERIOD, tariff=2, subunit=1),
        info="How long the alarm has been off its base.",
    ),
    *_event(
        "last_remove_date",
        "removed",
        2,
        "When the alarm was last taken off its base.",
        "How often the alarm was taken off its base.",
    ),
    *_event(
        "test_button_last_date",
        "test_button",
        3,
        "When the test button was last pressed.",
        "How often the test button was pressed.",
    ),
    field(
        "installation_date",
        Quantity.DATE,
        Match(VifRange.DATE, tariff=2),
        info="When the alarm was installed.",
    ),
    field(
        "last_sound_check_date",
        Quantity.DATE,
        Match(VifRange.DATE, storage=1),
        info="When the alarm last checked its sounder.",
    ),
)


class Ei6500(SpecDriver):
    """Ei6500 smoke alarms: standard records plus the head status word (module doc)."""

    def __init__(self) -> None:
        super().__init__("ei6500", (("EIE", 0x0C, 0x1A),), _SPECS)

    def fields(self, telegram: Telegram) -> Fields:
        """The declared fields, the head status values, and its flags in ``status``."""
        out = super().fields(telegram)
        record = record_by_key(telegram, _HEAD)
        if record is None or not isinstance(record.raw, int):
            return out
        word = record.raw
        dust = word & _DUST_MASK
        out["dust_level"] = f"DUST_{dust:X}"
        out["dust_level_counter"] = dust
        step = (word & _BATTERY_MASK) >> 8
        out["battery_level"] = f"{2.25 + 0.05 * step:.2f}V"
        out["obstacle_distance"] = _OBSTACLE[(word & _OBSTACLE_MASK) >> 20]
        words = [str(out.get("status", "OK")), *_HEAD_FLAGS.flags(word)]
        if not word & _SELF_TEST_DONE:
            words.append("SEODS_NOT_YET_COMPLETED")
        if dust >= _CLEANING_FROM:
            words.append("CLEANING_RECOMMENDED")
        out["status"] = join_status(words)
        return out


DRIVERS = (Ei6500(),)
