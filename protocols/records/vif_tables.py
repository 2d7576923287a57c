"""The VIF tables of EN 13757-3 (clause 6.4 and annex/tables for the FB and FD extensions).

Every entry says what a VIF measures (:class:`VifRange`), the canonical unit the parser
reports it in, and the factor ``num / den`` that turns the transmitted integer into that
unit (a fraction of integers so that ``raw * num / den`` is one correctly rounded division:
``271785 * 1 / 100`` gives exactly ``2717.85``). Tables are plain tuples and dicts built once
at import: the record loop only indexes them.

Canonical units (docs/cli.md, "Decoded JSON"): energy ``kwh``, volume ``m3``, mass ``kg``,
power ``kw``, volume flow ``m3h``, mass flow ``kgh``, temperature ``c``, temperature difference
``k``, pressure ``bar``, durations ``h``, voltage ``v``, current ``a``, HCA units ``hca``,
relative humidity ``rh``, frequency ``hz``, reactive/apparent energy ``kvarh``/``kvah``,
reactive/apparent power ``kvar``/``kva``.
"""

from __future__ import annotations

from typing import NamedTuple

from protocols.records.model import VifRange

# How the data of a record is to be interpreted beyond "a number times a factor".
KIND_NUMBER = 0
KIND_DATE = 1  # VIF 6C: prints YYYY-MM-DD whatever the date type
KIND_DATE_TIME = 2  # VIF 6D and friends: type F / I / J by data length
KIND_UNSIGNED = 3  # identifiers, bit fields, counters: unsigned, never scaled
KIND_FAHRENHEIT = 4  # FB 58..67, 70..73: degrees Fahrenheit converted to Celsius
KIND_FAHRENHEIT_DIFF = 5  # FB 60..63: a temperature difference in Fahrenheit -> K
KIND_PLAIN_TEXT = 6  # VIF 7C: unit given as text in the header
KIND_MANUFACTURER = 7  # VIF 7F: manufacturer specific, the value as sent


class VifInfo(NamedTuple):
    """One table entry: the quantity, its canonical unit and the raw -> unit factor."""

    vif_range: VifRange
    unit: str
    num: int
    den: int
    kind: int = KIND_NUMBER


def _pow10(exp: int) -> tuple[int, int]:
    """10**exp as a fraction (num, den) of integers."""
    return (10**exp, 1) if exp >= 0 else (1, 10**-exp)


def _scaled(rng: VifRange, unit: str, exp: int, mul: int = 1, div: int = 1) -> VifInfo:
    """An entry whose factor is 10**exp * mul / div, reduced to integers."""
    num, den = _pow10(exp)
    return VifInfo(rng, unit, num * mul, den * div)


# Time units in the nn (or n) bits of duration VIFs: seconds, minutes, hours, days -> hours.
_DURATION_TO_H: tuple[tuple[int, int], ...] = ((1, 3600), (1, 60), (1, 1), (24, 1))

# kWh per joule is 1/3_600_000; kW per (J/h) is 1/3_600_000 as well.
_J_PER_KWH = 3_600_000


def _primary_entry(vif: int) -> VifInfo:
    """Primary VIF table, EN 13757-3 table 10 (E bit removed: 0x00..0x7F)."""
    n3 = vif & 0x07
    n2 = vif & 0x03
    if vif <= 0x07:  # Wh 10^(n-3) -> kWh
        return _scaled(VifRange.ENERGY, "kwh", n3 - 6)
    if vif <= 0x0F:  # J 10^n -> kWh
        return _scaled(VifRange.ENERGY, "kwh", n3, div=_J_PER_KWH)
    if vif <= 0x17:  # m3 10^(n-6)
        return _scaled(VifRange.VOLUME, "m3", n3 - 6)
    if vif <= 0x1F:  # kg 10^(n-3)
        return _scaled(VifRange.MASS, "kg", n3 - 3)
    if vif <= 0x27:  # on time 20-23, operating time 24-27
        rng = VifRange.ON_TIME if vif <= 0x23 else VifRange.OPERATING_TIME
        num, den = _DURATION_TO_H[n2]
        return VifInfo(rng, "h", num, den)
    if vif <= 0x2F:  # W 10^(n-3) -> kW
        return _scaled(VifRange.POWER, "kw", n3 - 6)
    if vif <= 0x37:  # J/h 10^n -> kW
        return _scaled(VifRange.POWER, "kw", n3, div=_J_PER_KWH)
    if vif <= 0x3F:  # m3/h 10^(n-6)
        return _scaled(VifRange.VOLUME_FLOW, "m3h", n3 - 6)
    if vif <= 0x47:  # m3/min 10^(n-7) -> m3/h
        return _scaled(VifRange.VOLUME_FLOW, "m3h", n3 - 7, mul=60)
    if vif <= 0x4F:  # m3/s 10^(n-9) -> m3/h
        return _scaled(VifRange.VOLUME_FLOW, "m3h", n3 - 9, mul=3600)
    if vif <= 0x57:  # kg/h 10^(n-3)
        return _scaled(VifRange.MASS_FLOW, "kgh", n3 - 3)
    if vif <= 0x5B:
        return _scaled(VifRange.FLOW_TEMPERATURE, "c", n2 - 3)
    if vif <= 0x5F:
        return _scaled(VifRange.RETURN_TEMPERATURE, "c", n2 - 3)
    if vif <= 0x63:
        return _scaled(VifRange.TEMPERATURE_DIFFERENCE, "k", n2 - 3)
    if vif <= 0x67:
        return _scaled(VifRange.EXTERNAL_TEMPERATURE, "c", n2 - 3)
    if vif <= 0x6B:
        return _scaled(VifRange.PRESSURE, "bar", n2 - 3)
    if vif == 0x6C:  # time point, date (type G)
        return VifInfo(VifRange.DATE, "", 1, 1, KIND_DATE)
    if vif == 0x6D:  # time point, date and time (type F, I; J = time only)
        return VifInfo(VifRange.DATE_TIME, "", 1, 1, KIND_DATE_TIME)
    if vif == 0x6E:  # units for heat cost allocator, dimensionless
        return VifInfo(VifRange.HCA, "hca", 1, 1)
    if vif == 0x6F:  # reserved
        return VifInfo(VifRange.OTHER, "", 1, 1)
    if vif <= 0x73:
        num, den = _DURATION_TO_H[n2]
        return VifInfo(VifRange.AVERAGING_DURATION, "h", num, den)
    if vif <= 0x77:
        num, den = _DURATION_TO_H[n2]
        return VifInfo(VifRange.ACTUALITY_DURATION, "h", num, den)
    if vif == 0x78:
        return VifInfo(VifRange.FABRICATION_NO, "", 1, 1, KIND_UNSIGNED)
    if vif == 0x79:  # (enhanced) identification
        return VifInfo(VifRange.ENHANCED_ID, "", 1, 1, KIND_UNSIGNED)
    if vif == 0x7A:
        return VifInfo(VifRange.BUS_ADDRESS, "", 1, 1, KIND_UNSIGNED)
    if vif == 0x7C:
        return VifInfo(VifRange.PLAIN_TEXT_UNIT, "", 1, 1, KIND_PLAIN_TEXT)
    if vif == 0x7E:  # "any VIF": a readout selection, carries no quantity
        return VifInfo(VifRange.OTHER, "", 1, 1)
    # 0x7F manufacturer specific (0x7B / 0x7D are the extension escapes, resolved by the
    # parser before it gets here; they land here only when malformed).
    return VifInfo(VifRange.MANUFACTURER_SPECIFIC, "", 1, 1, KIND_MANUFACTURER)


PRIMARY: tuple[VifInfo, ...] = tuple(_primary_entry(v) for v in range(0x80))


def _fd_entry(code: int) -> VifInfo:
    """Extension table FD (EN 13757-3:2018 table 14), VIFE code with the E bit removed."""
    n2 = code & 0x03
    other = VifInfo(VifRange.OTHER, "", 1, 1)
    if code <= 0x03:  # credit 10^(nn-3) of the local currency
        return _scaled(VifRange.CREDIT, "currency", n2 - 3)
    if code <= 0x07:  # debit 10^(nn-3) of the local currency
        return _scaled(VifRange.DEBIT, "currency", n2 - 3)
    simple: dict[int, VifRange] = {
        0x08: VifRange.ACCESS_NUMBER,  # unique message identification / access number
        0x09: VifRange.MEDIUM,  # device type as in the fixed header
        0x0A: VifRange.MANUFACTURER,
        0x0B: VifRange.PARAMETER_SET,  # parameter set identification
        0x0C: VifRange.MODEL_VERSION,
        0x0D: VifRange.HARDWARE_VERSION,
        0x0E: VifRange.FIRMWARE_VERSION,
        0x0F: VifRange.SOFTWARE_VERSION,  # "other software version" in 2018
        0x10: VifRange.CUSTOMER_LOCATION,
        0x11: VifRange.CUSTOMER,
        0x12: VifRange.ACCESS_CODE,  # access code user
        0x13: VifRange.ACCESS_CODE,  # access code operator
        0x14: VifRange.ACCESS_CODE,  # access code system operator
        0x15: VifRange.ACCESS_CODE,  # access code developer
        0x16: VifRange.ACCESS_CODE,  # password
        0x17: VifRange.ERROR_FLAGS,  # error flags (binary, device type specific)
        0x18: VifRange.ERROR_MASK,
        0x19: VifRange.OTHER,  # security key (2018); reserved before
        0x1A: VifRange.DIGITAL_OUTPUT,
        0x1B: VifRange.DIGITAL_INPUT,
        0x1C: VifRange.BAUD_RATE,
        0x1D: VifRange.RESPONSE_DELAY,  # response delay time in bit times
        0x1E: VifRange.RETRY,
        0x1F: VifRange.REMOTE_CONTROL,  # 2018 edition; reserved before
        0x20: VifRange.STORAGE_NUMBER,  # first storage number for cyclic storage
        0x21: VifRange.STORAGE_NUMBER,  # last storage number for cyclic storage
        0x22: VifRange.STORAGE_NUMBER,  # size of storage block
        0x60: VifRange.RESET_COUNTER,
        0x61: VifRange.CUMULATION_COUNTER,
        0x62: VifRange.CONTROL_SIGNAL,
        0x63: VifRange.DAY_OF_WEEK,
        0x64: VifRange.WEEK_NUMBER,
        0x65: VifRange.OTHER,  # time point of day change
        0x66: VifRange.OTHER,  # state of parameter activation
        0x67: VifRange.OTHER,  # special supplier information
        0x75: VifRange.OTHER,  # number of times the meter was stopped (2018) [uncertain]
    }
    if code in simple:
        return VifInfo(simple[code], "", 1, 1, KIND_UNSIGNED)
    if 0x24 <= code <= 0x27:  # storage interval s, min, h, d
        num, den = _DURATION_TO_H[n2]
        return VifInfo(VifRange.STORAGE_INTERVAL, "h", num, den)
    if code in (0x28, 0x29):  # storage interval months / years
        return VifInfo(VifRange.STORAGE_INTERVAL, "month" if code == 0x28 else "year", 1, 1)
    if 0x2C <= code <= 0x2F:  # duration since last readout s, min, h, d
        num, den = _DURATION_TO_H[n2]
        return VifInfo(VifRange.DURATION_SINCE_READOUT, "h", num, den)
    if code == 0x30:  # start (date/time) of tariff
        return VifInfo(VifRange.TARIFF_PERIOD, "", 1, 1, KIND_DATE_TIME)
    if 0x31 <= code <= 0x33:  # duration of tariff: nn = 01 min, 10 h, 11 d
        num, den = _DURATION_TO_H[n2]
        return VifInfo(VifRange.TARIFF_PERIOD, "h", num, den)
    if 0x34 <= code <= 0x37:  # period of tariff s, min, h, d
        num, den = _DURATION_TO_H[n2]
        return VifInfo(VifRange.TARIFF_PERIOD, "h", num, den)
    if code in (0x38, 0x39):  # period of tariff months / years
        return VifInfo(VifRange.TARIFF_PERIOD, "month" if code == 0x38 else "year", 1, 1)
    if code == 0x3A:  # dimensionless / "no VIF"
        return VifInfo(VifRange.DIMENSIONLESS, "", 1, 1)
    if 0x40 <= code <= 0x4F:  # volts 10^(nnnn-9)
        return _scaled(VifRange.VOLTAGE, "v", (code & 0x0F) - 9)
    if 0x50 <= code <= 0x5F:  # amperes 10^(nnnn-12)
        return _scaled(VifRange.CURRENT, "a", (code & 0x0F) - 12)
    if 0x68 <= code <= 0x6B:  # duration since last cumulation h, d, month, year
        unit = ("h", "d", "month", "year")[n2]
        return VifInfo(VifRange.DURATION_SINCE_CUMULATION, unit, 1, 1)
    if 0x6C <= code <= 0x6F:  # operating time battery h, d, month, year
        unit = ("h", "d", "month", "year")[n2]
        return VifInfo(VifRange.BATTERY_OPERATING_TIME, unit, 1, 1)
    if code == 0x70:  # date and time of battery change
        return VifInfo(VifRange.BATTERY_CHANGE_DATE, "", 1, 1, KIND_DATE_TIME)
    if code == 0x71:  # RF level in dBm (2018 edition) [uncertain: signedness]
        return VifInfo(VifRange.RF_LEVEL, "dbm", 1, 1)
    if code == 0x74:  # remaining battery life time in days (2018; "reserved" in libmbus)
        return VifInfo(VifRange.REMAINING_BATTERY_LIFE, "d", 1, 1)
    # 0x23, 0x2A, 0x2B, 0x3B..0x3F, 0x72, 0x73, 0x76..0x7F: reserved, or data containers
    # and daylight-saving / listening-window descriptors we keep as raw values.
    return other


FD: tuple[VifInfo, ...] = tuple(_fd_entry(c) for c in range(0x80))


def _fb_entry(code: int) -> VifInfo:
    """Extension table FB (EN 13757-3:2018 table 12), VIFE code with the E bit removed.

    Entries marked [uncertain] could not be confirmed against a test vector.
    """
    n1 = code & 0x01
    n2 = code & 0x03
    if code <= 0x01:  # energy 10^(n-1) MWh -> kWh
        return _scaled(VifRange.ENERGY, "kwh", n1 + 2)
    if code <= 0x03:  # reactive energy 10^n kVARh
        return _scaled(VifRange.REACTIVE_ENERGY, "kvarh", n1)
    if code <= 0x05:  # apparent energy 10^n kVAh
        return _scaled(VifRange.APPARENT_ENERGY, "kvah", n1)
    if 0x08 <= code <= 0x09:  # energy 10^(n-1) GJ -> kWh (1 GJ = 1e9 J)
        return _scaled(VifRange.ENERGY, "kwh", n1 + 8, div=_J_PER_KWH)
    if 0x0C <= code <= 0x0F:  # energy 10^(nn-1) MCal -> kWh (1 MCal_IT = 1.163 kWh) [uncertain]
        return _scaled(VifRange.ENERGY, "kwh", n2 - 1 - 3, mul=1163)
    if 0x10 <= code <= 0x11:  # volume 10^(n+2) m3
        return _scaled(VifRange.VOLUME, "m3", n1 + 2)
    if 0x14 <= code <= 0x17:  # reactive power 10^(nn-3) kVAR [uncertain]
        return _scaled(VifRange.REACTIVE_POWER, "kvar", n2 - 3)
    if 0x18 <= code <= 0x19:  # mass 10^(n+2) t -> kg
        return _scaled(VifRange.MASS, "kg", n1 + 5)
    if 0x1A <= code <= 0x1B:  # relative humidity 10^(n-1) %
        return _scaled(VifRange.RELATIVE_HUMIDITY, "rh", n1 - 1)
    if code == 0x20:  # volume in feet^3 (0.028316846592 m3)
        return _scaled(VifRange.VOLUME, "m3", -12, mul=28316846592)
    if code == 0x21:  # volume in 0.1 feet^3
        return _scaled(VifRange.VOLUME, "m3", -13, mul=28316846592)
    if 0x28 <= code <= 0x29:  # power 10^(n-1) MW -> kW
        return _scaled(VifRange.POWER, "kw", n1 + 2)
    if code in (0x2A, 0x2B):  # phase U-U / U-I in 0.1 degree
        return _scaled(VifRange.PHASE_ANGLE, "deg", -1)
    if 0x2C <= code <= 0x2F:  # frequency 10^(nn-3) Hz
        return _scaled(VifRange.FREQUENCY, "hz", n2 - 3)
    if 0x30 <= code <= 0x31:  # power 10^(n-1) GJ/h -> kW
        return _scaled(VifRange.POWER, "kw", n1 + 8, div=_J_PER_KWH)
    if 0x34 <= code <= 0x37:  # apparent power 10^(nn-3) kVA [uncertain]
        return _scaled(VifRange.APPARENT_POWER, "kva", n2 - 3)
    if 0x58 <= code <= 0x5B:  # flow temperature 10^(nn-3) °F
        return _fahrenheit(VifRange.FLOW_TEMPERATURE, n2)
    if 0x5C <= code <= 0x5F:  # return temperature 10^(nn-3) °F
        return _fahrenheit(VifRange.RETURN_TEMPERATURE, n2)
    if 0x60 <= code <= 0x63:  # temperature difference 10^(nn-3) °F -> K
        num, den = _pow10(n2 - 3)
        return VifInfo(VifRange.TEMPERATURE_DIFFERENCE, "k", num, den, KIND_FAHRENHEIT_DIFF)
    if 0x64 <= code <= 0x67:  # external temperature 10^(nn-3) °F
        return _fahrenheit(VifRange.EXTERNAL_TEMPERATURE, n2)
    if 0x70 <= code <= 0x73:  # cold/warm temperature limit 10^(nn-3) °F
        return _fahrenheit(VifRange.TEMPERATURE_LIMIT, n2)
    if 0x74 <= code <= 0x77:  # cold/warm temperature limit 10^(nn-3) °C
        return _scaled(VifRange.TEMPERATURE_LIMIT, "c", n2 - 3)
    if code >= 0x78:  # cumulative count of max power 10^(nnn-3) W -> kW
        return _scaled(VifRange.CUMULATIVE_MAX_POWER, "kw", (code & 0x07) - 6)
    return VifInfo(VifRange.OTHER, "", 1, 1)  # reserved


def _fahrenheit(rng: VifRange, n2: int) -> VifInfo:
    num, den = _pow10(n2 - 3)
    return VifInfo(rng, "c", num, den, KIND_FAHRENHEIT)


FB: tuple[VifInfo, ...] = tuple(_fb_entry(c) for c in range(0x80))

# Combinable (orthogonal) VIFE codes (EN 13757-3 table 15) the parser acts on.
VIFE_BACKWARD = 0x3C  # accumulation of abs value of negative contributions only
VIFE_FORWARD = 0x3B  # accumulation of positive contributions only
VIFE_MANUFACTURER = 0x7F  # manufacturer-specific VIFEs follow


def combinable_factor(code: int) -> tuple[int, int] | None:
    """The factor a combinable VIFE applies to the value, or None when it applies none.

    0x70..0x77 multiplicative correction 10^(nnn-6); 0x78..0x7B additive correction
    constant 10^(nn-3) in the VIF's unit (the record carries the offset, scaled like
    this); 0x7D multiplicative correction 10^3 (EN 13757-3 table 15).
    """
    if 0x70 <= code <= 0x77:
        return _pow10((code & 0x07) - 6)
    if 0x78 <= code <= 0x7B:
        return _pow10((code & 0x03) - 3)
    if code == 0x7D:
        return (1000, 1)
    return None
