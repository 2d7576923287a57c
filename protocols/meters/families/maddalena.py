"""Maddalena MicroClima heat meters (driver ``microclima``).

All values are standard records. Code is needed for the billing history: the meter sends
the energy at up to 31 earlier month ends (storage 1-31) but only the latest of those dates
(storage 1); the date of storage N is that date N-1 months earlier, at the month's end
when the month is shorter (2020-12-31 -> 2020-02-29 ten months back).

Facts (meter triple, field names, records, the date rule) as the wmbusmeters driver
drivers/src/microclima.xmq declares them; the telegrams of our test vectors.
"""

from __future__ import annotations

from protocols.meters.base import Fields, Mvt
from protocols.meters.fieldspec import Match, Quantity, field
from protocols.meters.mfct import NamedDriver, error_flags_status, months_before, storage_history
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import Function, VifRange
from protocols.telegram import Telegram

MVT: tuple[Mvt, ...] = (("MAD", 0x00, 0x04),)
_HISTORY = range(1, 32)  # storage numbers of the monthly energy history


_SPECS = (
    error_flags_status(tpl=True),
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


class Microclima(NamedDriver):
    """``microclima``: the standard fields plus the monthly history with its dates."""

    def __init__(self) -> None:
        super().__init__("microclima", MVT)
        self._spec = SpecDriver("microclima", MVT, _SPECS)

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
        for n, value in storage_history(telegram, VifRange.ENERGY, _HISTORY).items():
            out[f"consumption_at_set_date_{n}_kwh"] = value
            out[f"set_date_{n}_date"] = months_before(set_date, n - 1)
        return out


DRIVERS: tuple[Microclima, ...] = (Microclima(),)
