"""Maddalena MicroClima heat meters (driver ``microclima``).

All values are standard records. Code is needed for the billing history: the meter sends
the energy at up to 31 earlier month ends (storage 1-31) but only the latest of those dates
(storage 1); the date of storage N is that date N-1 months earlier, at the month's end
when the month is shorter (2020-12-31 -> 2020-02-29 ten months back).

Facts (meter triple, field names, records, the date rule) as the wmbusmeters driver
drivers/src/microclima.xmq declares them; the telegrams of our test vectors.
"""

from __future__ import annotations

import calendar

from protocols.meters.base import Fields, Mvt
from protocols.meters.fieldspec import Attr, Match, Quantity, field
from protocols.meters.lookup import BitLookup
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import Function, Record, VifRange
from protocols.telegram import Telegram

MVT: tuple[Mvt, ...] = (("MAD", 0x00, 0x04),)
_HISTORY = range(1, 32)  # storage numbers of the monthly energy history


def months_before(date: str | None, months: int) -> str | None:
    """``YYYY-MM-DD`` ``months`` calendar months before ``date``, the day clamped to the
    length of that month; ``None`` when ``date`` is not such a date."""
    if date is None or len(date) < 10:
        return None
    try:
        year, month, day = int(date[0:4]), int(date[5:7]), int(date[8:10])
    except ValueError:
        return None
    if not 1 <= month <= 12:
        return None
    index = year * 12 + (month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    if year < 1:
        return None
    day = min(day, calendar.monthrange(year, month)[1])
    return f"{year:04d}-{month:02d}-{day:02d}"


_SPECS = (
    field(
        "status",
        Quantity.TEXT,
        Match(VifRange.ERROR_FLAGS),
        lookup=BitLookup("ERROR_FLAGS", {}, 0xFFFF, "OK"),
        attrs=Attr.STATUS | Attr.INCLUDE_TPL_STATUS,
    ),
    field("meter_datetime", Quantity.DATE, Match(VifRange.DATE_TIME)),
    field("model_version", Quantity.TEXT, Match(VifRange.MODEL_VERSION)),
    field("parameter_set", Quantity.TEXT, Match(VifRange.PARAMETER_SET)),
    field("flow_temperature", Quantity.TEMPERATURE, Match(VifRange.FLOW_TEMPERATURE)),
    field("return_temperature", Quantity.TEMPERATURE, Match(VifRange.RETURN_TEMPERATURE)),
    field("total_energy_consumption", Quantity.ENERGY, Match(VifRange.ENERGY)),
    field("total_volume", Quantity.VOLUME, Match(VifRange.VOLUME)),
    field("volume_flow", Quantity.FLOW, Match(VifRange.VOLUME_FLOW)),
    field("power", Quantity.POWER, Match(VifRange.POWER)),
    field("temperature_difference", Quantity.TEMPERATURE, Match(VifRange.TEMPERATURE_DIFFERENCE)),
)


def _history_energy(record: Record) -> bool:
    """An instantaneous, plain energy record of a history storage (1-31)."""
    return (
        record.vif_range is VifRange.ENERGY
        and record.function is Function.INSTANTANEOUS
        and record.storage in _HISTORY
        and record.tariff == 0
        and record.subunit == 0
        and not record.combinables
    )


def _number(value: object) -> int | None:
    """An integer record value as printed; anything else (invalid, not a number) is null."""
    return value if isinstance(value, int) else None


class Microclima:
    """``microclima``: the standard fields plus the monthly history with its dates."""

    def __init__(self) -> None:
        self._spec = SpecDriver("microclima", MVT, _SPECS)
        self.aliases: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """``microclima``."""
        return self._spec.name

    @property
    def mvt(self) -> frozenset[Mvt]:
        """The (manufacturer, version, device type) triples this driver serves."""
        return self._spec.mvt

    @property
    def compact_layouts(self) -> tuple[bytes, ...]:
        """None: these meters send full frames."""
        return ()

    def fields(self, telegram: Telegram) -> Fields:
        """The declared fields, then ``consumption_at_set_date_N_kwh`` and
        ``set_date_N_date`` for each history storage N the telegram holds."""
        out = self._spec.fields(telegram)
        set_date: str | None = None
        for record in telegram.records:
            if (
                record.vif_range is VifRange.DATE
                and record.storage == 1
                and record.function is Function.INSTANTANEOUS
                and isinstance(record.value, str)
            ):
                set_date = record.value
                break
        for record in telegram.records:
            if not _history_energy(record):
                continue
            n = record.storage
            value = record.value
            key = f"consumption_at_set_date_{n}_kwh"
            if key in out:
                continue  # the first record of a storage wins
            out[key] = round(value, 6) if isinstance(value, float) else _number(value)
            out[f"set_date_{n}_date"] = months_before(set_date, n - 1)
        return out


DRIVERS: tuple[Microclima, ...] = (Microclima(),)
