"""What one EN 13757-3 data record is, once parsed.

This module is the contract between the record parser (``protocols.records``) and the meter
drivers (``protocols.meters``): drivers never look at DIF/VIF bits themselves, they match on
these fields.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

RecordValue = float | int | str | bytes | None


class Function(StrEnum):
    """DIF bits 5..4: the function field (EN 13757-3, 6.3.2)."""

    INSTANTANEOUS = "instantaneous"
    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    ERROR_STATE = "error_state"


class VifRange(StrEnum):
    """What a record measures: the VIF (primary or extension table) reduced to its quantity.

    Energy in Wh, J, MWh or GJ is all ``ENERGY``; the unit is normalised in ``Record.unit``.
    """

    ENERGY = "energy"
    VOLUME = "volume"
    MASS = "mass"
    ON_TIME = "on_time"
    OPERATING_TIME = "operating_time"
    POWER = "power"
    VOLUME_FLOW = "volume_flow"
    MASS_FLOW = "mass_flow"
    FLOW_TEMPERATURE = "flow_temperature"
    RETURN_TEMPERATURE = "return_temperature"
    TEMPERATURE_DIFFERENCE = "temperature_difference"
    EXTERNAL_TEMPERATURE = "external_temperature"
    PRESSURE = "pressure"
    DATE = "date"
    DATE_TIME = "date_time"
    HCA = "hca"
    AVERAGING_DURATION = "averaging_duration"
    ACTUALITY_DURATION = "actuality_duration"
    FABRICATION_NO = "fabrication_no"
    ENHANCED_ID = "enhanced_id"
    BUS_ADDRESS = "bus_address"
    ACCESS_NUMBER = "access_number"
    MEDIUM = "medium"
    MANUFACTURER = "manufacturer"
    PARAMETER_SET = "parameter_set"
    MODEL_VERSION = "model_version"
    HARDWARE_VERSION = "hardware_version"
    FIRMWARE_VERSION = "firmware_version"
    SOFTWARE_VERSION = "software_version"
    CUSTOMER_LOCATION = "customer_location"
    CUSTOMER = "customer"
    ERROR_FLAGS = "error_flags"
    DIGITAL_OUTPUT = "digital_output"
    DIGITAL_INPUT = "digital_input"
    VOLTAGE = "voltage"
    CURRENT = "current"
    RESET_COUNTER = "reset_counter"
    CUMULATION_COUNTER = "cumulation_counter"
    REMAINING_BATTERY_LIFE = "remaining_battery_life"
    RELATIVE_HUMIDITY = "relative_humidity"
    REACTIVE_ENERGY = "reactive_energy"
    APPARENT_ENERGY = "apparent_energy"
    REACTIVE_POWER = "reactive_power"
    APPARENT_POWER = "apparent_power"
    FREQUENCY = "frequency"
    DIMENSIONLESS = "dimensionless"
    PLAIN_TEXT_UNIT = "plain_text_unit"
    MANUFACTURER_SPECIFIC = "manufacturer_specific"
    OTHER = "other"
    # Added with the record parser: further FD/FB extension-table quantities.
    CREDIT = "credit"
    DEBIT = "debit"
    ACCESS_CODE = "access_code"
    ERROR_MASK = "error_mask"
    BAUD_RATE = "baud_rate"
    RESPONSE_DELAY = "response_delay"
    RETRY = "retry"
    REMOTE_CONTROL = "remote_control"
    STORAGE_NUMBER = "storage_number"
    STORAGE_INTERVAL = "storage_interval"
    DURATION_SINCE_READOUT = "duration_since_readout"
    TARIFF_PERIOD = "tariff_period"
    DURATION_SINCE_CUMULATION = "duration_since_cumulation"
    BATTERY_OPERATING_TIME = "battery_operating_time"
    BATTERY_CHANGE_DATE = "battery_change_date"
    RF_LEVEL = "rf_level"
    CONTROL_SIGNAL = "control_signal"
    DAY_OF_WEEK = "day_of_week"
    WEEK_NUMBER = "week_number"
    PHASE_ANGLE = "phase_angle"
    TEMPERATURE_LIMIT = "temperature_limit"
    CUMULATIVE_MAX_POWER = "cumulative_max_power"


class Record(NamedTuple):
    """One data record: DIB + VIB + data, decoded.

    A named tuple rather than a frozen dataclass: a telegram's records are made by the
    dozen, and a tuple is made in a fifth of the time (0.2 us against 1.0 us through slot
    descriptors; docs/decisions/0011). Change a field with ``record._replace(...)``.

    ``header`` is the record's DIF, DIFEs, VIF and VIFEs exactly as sent (the "difvif key"
    drivers match on, and the bytes a compact-frame signature is computed over). ``value``
    is in the canonical unit named by ``unit`` (``m3``, ``kwh``, ``kw``, ``m3h``, ``c``,
    ``k``, ``bar``, ``h``, ``v``, ``a``, ... or ``""`` when the quantity has none); dates
    are ``YYYY-MM-DD`` and date-times ``YYYY-MM-DD HH:MM`` strings; ``None`` marks a value
    the meter flagged invalid. ``raw`` is the value before scaling (the integer, or the
    bytes for strings and manufacturer data).
    """

    header: bytes
    data: bytes
    function: Function
    storage: int
    tariff: int
    subunit: int
    vif_range: VifRange
    unit: str
    value: RecordValue
    raw: int | float | bytes
    combinables: tuple[int, ...] = ()
    manufacturer_vifes: tuple[int, ...] = ()
    offset: int = 0

    @property
    def key(self) -> str:
        """The header as upper-case hex, e.g. ``"04FF23"``."""
        return self.header.hex().upper()
