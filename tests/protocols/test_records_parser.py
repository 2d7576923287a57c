"""EN 13757-3 record parser: one behaviour per test, on built records or real-meter vectors."""

from __future__ import annotations

import math
import struct

import pytest

from protocols.errors import FormatError, TruncatedError, UnsupportedError
from protocols.records import (
    Function,
    VifRange,
    more_records_follow,
    parse_records,
)
from protocols.records.build import build_header, encode_record
from tests.protocols.vectors import load_jsonl

# Data fields (DIF low nibble) and VIFs used by the records built below.
INT8, INT16, INT32, REAL32, INT48, LVAR, BCD12 = 0x1, 0x2, 0x4, 0x5, 0x6, 0xD, 0xE
EXTENSION = 0x80  # DIF/VIF/VIFE bit: another DIFE/VIFE follows
VIF_ENERGY_KWH = 0x06
VIF_POWER_KW = 0x2E
VIF_FLOW_L_H = 0x3B
VIF_EXTERNAL_TEMPERATURE = 0x67
VIF_MANUFACTURER = 0xFF  # manufacturer-specific VIF (with a VIFE following it here)
VIFE_MANUFACTURER = 0x7F  # combinable VIFE: manufacturer-specific VIFEs follow
VIF_DATE_TIME = b"\x6d"  # type F with 4 data bytes, type I with 6
VIF_HCA = b"\x6e"
VIFE_REMAINING_BATTERY_DAYS = b"\xfd\x74"
VIFE_RELATIVE_HUMIDITY_01 = b"\xfb\x1a"  # 0.1 % RH
VIF_ENERGY_WH_BACKWARD = b"\x83\x3c"  # energy Wh, combinable VIFE: backward flow
VIF_PLAIN_TEXT = 0xFC
VIFE_TIMES_10E_2 = 0x74  # multiplicative correction 10^(4-6)
VIFE_MODEL_VERSION = b"\xfd\x0c"
DATE_TIME_I = "2024-07-19 08:30:45"

CI_ELL = 0x8D
CI_TPL_NONE = 0x78
CI_TPL_LONG = 0x72


def _type_f(date_time: str, *, invalid: bool = False, hundred_years: int = 0) -> bytes:
    """Type F data (4 bytes) for ``YYYY-MM-DD HH:MM`` in 2000..2099, packed by hand:
    minute|IV, hour|hundred-year bits, day|year bits 0-2, month|year bits 3-6."""
    year, month, day = int(date_time[0:4]), int(date_time[5:7]), int(date_time[8:10])
    hour, minute = int(date_time[11:13]), int(date_time[14:16])
    y = year - 2000
    return bytes(
        [
            minute | (0x80 if invalid else 0),
            hour | (hundred_years << 5),
            day | ((y & 0x07) << 5),
            month | ((y >> 3) << 4),
        ]
    )


def _kamwater_full() -> bytes:
    """The records of a real Kamstrup Multical 21 full frame: after ELL 8D and CI 0x78."""
    vector = next(
        v
        for v in load_jsonl("wmbus.jsonl")
        if v["source"] == "wmbusmeters drivers/src/kamwater.xmq test 5"
    )
    frame = bytes.fromhex(vector["frames"][-1])
    assert (frame[10], frame[19]) == (CI_ELL, CI_TPL_NONE)
    return frame[20:]


def _oms_frame3() -> bytes:
    """The records of libmbus' oms_frame3 (a wired long frame): after the CI 0x72 and its
    12-byte variable-data header, before the checksum and stop byte."""
    vector = next(v for v in load_jsonl("mbus_frames.jsonl") if v["name"] == "oms_frame3")
    frame = bytes.fromhex(vector["hex"])
    assert frame[6] == CI_TPL_LONG
    return frame[7 + 12 : -2]


def test_kamwater_full_frame_values() -> None:
    recs = parse_records(_kamwater_full())
    by_key = {r.key: r for r in recs}
    assert by_key["0413"].value == pytest.approx(3.871)
    assert by_key["0413"].unit == "m3"
    assert by_key["426C"].value == "2022-11-01"
    assert by_key["426C"].storage == 1
    assert by_key["5167"].function is Function.MAXIMUM
    assert by_key["5167"].value == 27
    assert by_key["6167"].function is Function.MINIMUM


def test_record_offsets_are_start_positions() -> None:
    block = _kamwater_full()
    recs = parse_records(block)
    assert [r.offset for r in recs[:3]] == [0, 7, 13]
    for r in recs:
        assert block[r.offset : r.offset + len(r.header)] == r.header


def test_oms_frame3_libmbus_values() -> None:
    recs = parse_records(_oms_frame3())
    values = [(r.vif_range, r.storage, r.value) for r in recs]
    assert values[0] == (VifRange.ENERGY, 0, 2850427)  # 2850427000 Wh
    assert values[1][2] == pytest.approx(703.476)
    assert values[3] == (VifRange.DATE, 1, "2007-12-31")
    assert values[4][2] == pytest.approx(0.127)  # 127 l/h
    assert values[5][2] == pytest.approx(0.3297)  # 3297 x 0.1 W -> kW
    assert values[6][:2] == (VifRange.FLOW_TEMPERATURE, 0)
    assert values[6][2] == pytest.approx(44.3)
    assert values[8][0] is VifRange.ERROR_FLAGS


def test_value_keeps_exact_decimal() -> None:
    # 0C 04 = 8-digit BCD, energy 10^1 Wh: 271785 * 0.01 kWh
    (rec,) = parse_records(bytes.fromhex("0C0485172700"))
    assert rec.value == 2717.85
    assert rec.raw == 271785


def test_integer_scale_one_stays_int() -> None:
    (rec,) = parse_records(bytes([INT32, VIF_ENERGY_KWH]) + (52814).to_bytes(4, "little"))
    assert rec.value == 52814
    assert isinstance(rec.value, int)


def test_idle_fillers_are_skipped_anywhere() -> None:
    recs = parse_records(bytes.fromhex("2F2F0413070000002F2F023B02002F"))
    assert [r.key for r in recs] == ["0413", "023B"]


def test_manufacturer_dif_takes_rest_of_block() -> None:
    recs = parse_records(bytes.fromhex("0413070000000F0102AB"))
    last = recs[-1]
    assert last.vif_range is VifRange.MANUFACTURER_SPECIFIC
    assert last.header == b"\x0f"
    assert last.data == b"\x01\x02\xab"
    assert last.value == "0102AB"
    assert last.offset == 6
    assert not more_records_follow(recs)


def test_more_records_follow_dif_1f() -> None:
    recs = parse_records(bytes.fromhex("0413070000001F"))
    assert more_records_follow(recs)
    assert recs[-1].data == b""


def test_global_readout_dif_is_format_error() -> None:
    with pytest.raises(FormatError):
        parse_records(bytes.fromhex("7F"))


def test_bcd_with_f_top_nibble_is_negative() -> None:
    (rec,) = parse_records(bytes.fromhex("0A5A23F1"))  # F1 23 -> -123
    assert rec.raw == -123
    assert rec.value == pytest.approx(-12.3)


def test_bcd_with_hex_digits_has_no_value() -> None:
    (rec,) = parse_records(bytes.fromhex("0C13FFFFFFFF"))
    assert rec.value is None
    assert rec.raw == b"\xff\xff\xff\xff"


def test_integers_are_signed_little_endian() -> None:
    raw = (-27).to_bytes(4, "little", signed=True)  # -27 l/h
    (rec,) = parse_records(bytes([INT32, VIF_FLOW_L_H]) + raw)
    assert rec.raw == -27
    assert rec.value == pytest.approx(-0.027)


def test_int24_and_int48_lengths() -> None:
    recs = parse_records(bytes.fromhex("0313010203" + "0613112233445566"))
    assert recs[0].raw == 0x030201
    assert recs[1].raw == 0x665544332211


def test_real32_is_shortest_single_precision_decimal() -> None:
    # real32 power in kW: 0.3172 as a float32 is 0.31720000505..., reported as 0.3172
    (rec,) = parse_records(bytes([REAL32, VIF_POWER_KW]) + struct.pack("<f", 0.3172))
    assert rec.raw == 0.3172
    assert rec.value == pytest.approx(0.3172)


def test_date_type_g() -> None:
    (rec,) = parse_records(bytes.fromhex("426CBF2C"))
    assert rec.value == "2021-12-31"


def test_date_time_type_f() -> None:
    (rec,) = parse_records(bytes([INT32]) + VIF_DATE_TIME + _type_f("2023-09-14 17:05"))
    assert rec.vif_range is VifRange.DATE_TIME
    assert rec.value == "2023-09-14 17:05"


def test_date_time_type_i_has_seconds() -> None:
    (rec,) = parse_records(encode_record(build_header(VIF_DATE_TIME, INT48), DATE_TIME_I))
    assert rec.value == DATE_TIME_I


def test_date_time_invalid_flag_gives_none() -> None:
    data = _type_f("2023-09-14 17:05", invalid=True)
    (rec,) = parse_records(bytes([INT32]) + VIF_DATE_TIME + data)
    assert rec.value is None


def test_date_time_hundred_year_bits_are_ignored() -> None:
    data = _type_f("2031-02-27 21:58", hundred_years=1)
    (rec,) = parse_records(bytes([INT32]) + VIF_DATE_TIME + data)
    assert rec.value == "2031-02-27 21:58"  # not 2131


def test_difes_give_storage_tariff_subunit() -> None:
    header = build_header(VIF_HCA, INT32, storage=1, subunit=1)
    (rec,) = parse_records(encode_record(header, 0))
    assert (rec.storage, rec.tariff, rec.subunit) == (1, 0, 1)
    # Tariff 4 does not fit the first DIFE's two tariff bits: it goes to the second one.
    header = build_header(VIF_ENERGY_WH_BACKWARD, BCD12, tariff=4)
    assert len(header) == 5
    (rec,) = parse_records(encode_record(header, 0))
    assert (rec.storage, rec.tariff, rec.subunit) == (0, 4, 0)


def test_storage_number_spans_many_difes() -> None:
    (rec,) = parse_records(bytes.fromhex("C4FFFF0F1307000000"))
    assert rec.storage == 1 | (0xF << 1) | (0xF << 5) | (0xF << 9)


def test_more_than_ten_difes_is_format_error() -> None:
    with pytest.raises(FormatError):
        parse_records(bytes.fromhex("84" + "80" * 10 + "0013" + "00000000"))


def test_more_than_ten_vifes_is_format_error() -> None:
    with pytest.raises(FormatError):
        parse_records(bytes.fromhex("0493" + "BC" * 10 + "3C" + "2A000000"))


def test_truncated_data_raises_truncated_error() -> None:
    with pytest.raises(TruncatedError):
        parse_records(bytes.fromhex("041301"))


def test_backward_flow_combinable_is_collected() -> None:
    (rec,) = parse_records(bytes.fromhex("04933C05000000"))
    assert rec.combinables == (0x3C,)
    assert rec.vif_range is VifRange.VOLUME


def test_multiplicative_correction_vife_scales_value() -> None:
    # VIF FC: the unit as LVAR text (sent last character first), then VIFE 74: x 10^-2.
    unit = b"%RH"
    header = bytes([INT16, VIF_PLAIN_TEXT, len(unit)]) + unit[::-1] + bytes([VIFE_TIMES_10E_2])
    (rec,) = parse_records(header + (4321).to_bytes(2, "little"))
    assert rec.vif_range is VifRange.PLAIN_TEXT_UNIT
    assert rec.unit == "%RH"
    assert rec.value == pytest.approx(43.21)


def test_manufacturer_vifes_after_ff_vife() -> None:
    vib = bytes([VIF_EXTERNAL_TEMPERATURE | EXTENSION, VIFE_MANUFACTURER | EXTENSION, 0x21])
    (rec,) = parse_records(build_header(vib, INT8, storage=5) + bytes([0x2A]))
    assert rec.vif_range is VifRange.EXTERNAL_TEMPERATURE
    assert rec.combinables == (VIFE_MANUFACTURER,)
    assert rec.manufacturer_vifes == (0x21,)
    assert rec.storage == 5


def test_manufacturer_vif_is_unsigned_raw() -> None:
    header = bytes([INT32, VIF_MANUFACTURER, 0x35])
    (rec,) = parse_records(header + (0xC0001234).to_bytes(4, "little"))
    assert rec.vif_range is VifRange.MANUFACTURER_SPECIFIC
    assert rec.manufacturer_vifes == (0x35,)
    assert rec.value == 0xC0001234  # top bit set, still positive


def test_fd_error_flags() -> None:
    (rec,) = parse_records(bytes.fromhex("02FD171100"))
    assert rec.vif_range is VifRange.ERROR_FLAGS
    assert rec.value == 0x11


def test_fd_voltage_and_current() -> None:
    recs = parse_records(bytes.fromhex("02FD46630E" + "02FD590500"))
    assert recs[0].unit == "v"
    assert recs[0].value == pytest.approx(3.683)
    assert recs[1].vif_range is VifRange.CURRENT
    assert recs[1].value == pytest.approx(0.005)


def test_fd_remaining_battery_life_days() -> None:
    (rec,) = parse_records(encode_record(build_header(VIFE_REMAINING_BATTERY_DAYS, INT16), 1825))
    assert rec.vif_range is VifRange.REMAINING_BATTERY_LIFE
    assert rec.value == 1825


def test_fb_relative_humidity() -> None:
    (rec,) = parse_records(encode_record(build_header(VIFE_RELATIVE_HUMIDITY_01, INT16), 463))
    assert rec.unit == "rh"
    assert rec.value == pytest.approx(46.3)


def test_fb_mwh_and_gj_become_kwh() -> None:
    recs = parse_records(bytes.fromhex("04FB0001000000" + "04FB0901000000"))
    assert recs[0].value == pytest.approx(100.0)  # 0.1 MWh
    assert recs[1].value == pytest.approx(1e9 / 3.6e6)  # 1 GJ


def test_joule_energy_becomes_kwh() -> None:
    (rec,) = parse_records(bytes.fromhex("0C0A51432204"))  # 8-digit BCD, 10^2 J
    assert rec.unit == "kwh"
    assert rec.value == pytest.approx(4224351 * 100 / 3.6e6)


def test_on_time_in_days_becomes_hours() -> None:
    (rec,) = parse_records(bytes.fromhex("02230200"))  # 2 days
    assert rec.vif_range is VifRange.ON_TIME
    assert rec.value == 48


def test_volume_flow_per_minute_becomes_m3h() -> None:
    (rec,) = parse_records(bytes.fromhex("02470100"))  # 1 m3/min
    assert rec.value == pytest.approx(60.0)


def test_lvar_ascii_is_reversed() -> None:
    text = b"ACME-42 "
    wire = build_header(VIFE_MODEL_VERSION, LVAR) + bytes([len(text)]) + text[::-1]
    (rec,) = parse_records(wire)
    assert rec.vif_range is VifRange.MODEL_VERSION
    assert rec.value == "ACME-42 "


def test_lvar_reserved_length_is_unsupported() -> None:
    with pytest.raises(UnsupportedError):
        parse_records(bytes.fromhex("0D13F8"))


def test_lvar_non_text_is_hex() -> None:
    (rec,) = parse_records(bytes.fromhex("0DFF5F020180"))
    assert rec.value == "0180"


def test_lvar_bcd_negative() -> None:
    (rec,) = parse_records(bytes.fromhex("0D13D23412"))
    assert rec.raw == -1234
    assert rec.value == pytest.approx(-1.234)


def test_extension_vif_without_vife_is_kept_as_unknown() -> None:
    # libmbus sen_pollutherm: 0C 7B (no extension bit) from a real Sensus meter
    recs = parse_records(bytes.fromhex("0C7B02030000" + "0A5A5507"))
    assert recs[0].vif_range is VifRange.OTHER
    assert recs[0].value == 302
    assert recs[1].value == pytest.approx(75.5)


def test_fahrenheit_temperature_becomes_celsius() -> None:
    (rec,) = parse_records(bytes.fromhex("02FB5AD400"))  # 212 x 0.1 °F
    assert rec.vif_range is VifRange.FLOW_TEMPERATURE
    assert math.isclose(rec.value, (21.2 - 32) * 5 / 9, rel_tol=1e-9)  # type: ignore[arg-type]
