"""EN 13757-3 record parser: one behaviour per test, on real telegram bytes where possible."""

from __future__ import annotations

import math

import pytest

from protocols.errors import FormatError, TruncatedError, UnsupportedError
from protocols.records import (
    Function,
    VifRange,
    more_records_follow,
    parse_records,
)

# kamwater.xmq test 5 (wmbus.jsonl): the records after ELL 8D and CI 0x78.
KAMWATER_FULL = bytes.fromhex(
    "04FF2300080000441300000000523B000006FF1B08900008F0FF426CC12B61670A51671B023B0000"
    "04131F0F00008101E7FF0F13"
)
# libmbus oms_frame3 (mbus_frames.jsonl): records after the 12-byte variable-data header.
OMS_FRAME3 = bytes.fromhex(
    "0C06270485020C13763470004C0619544401426CFF0C0B3B2701000B2A9732000A5A43040A5E510202FD170000"
)


def test_kamwater_full_frame_values() -> None:
    recs = parse_records(KAMWATER_FULL)
    by_key = {r.key: r for r in recs}
    assert by_key["0413"].value == pytest.approx(3.871)
    assert by_key["0413"].unit == "m3"
    assert by_key["426C"].value == "2022-11-01"
    assert by_key["426C"].storage == 1
    assert by_key["5167"].function is Function.MAXIMUM
    assert by_key["5167"].value == 27
    assert by_key["6167"].function is Function.MINIMUM


def test_record_offsets_are_start_positions() -> None:
    recs = parse_records(KAMWATER_FULL)
    assert [r.offset for r in recs[:3]] == [0, 7, 13]
    for r in recs:
        assert KAMWATER_FULL[r.offset : r.offset + len(r.header)] == r.header


def test_oms_frame3_libmbus_values() -> None:
    recs = parse_records(OMS_FRAME3)
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
    (rec,) = parse_records(bytes.fromhex("0406E7910000"))  # kWh
    assert rec.value == 37351
    assert isinstance(rec.value, int)


def test_idle_fillers_are_skipped_anywhere() -> None:
    recs = parse_records(bytes.fromhex("2F2F0413010000002F2F023B02002F"))
    assert [r.key for r in recs] == ["0413", "023B"]


def test_manufacturer_dif_takes_rest_of_block() -> None:
    recs = parse_records(bytes.fromhex("0413010000000F0102AB"))
    last = recs[-1]
    assert last.vif_range is VifRange.MANUFACTURER_SPECIFIC
    assert last.header == b"\x0f"
    assert last.data == b"\x01\x02\xab"
    assert last.value == "0102AB"
    assert last.offset == 6
    assert not more_records_follow(recs)


def test_more_records_follow_dif_1f() -> None:
    recs = parse_records(bytes.fromhex("0413010000001F"))
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
    (rec,) = parse_records(bytes.fromhex("043BF7FFFFFF"))  # sensostar: -9 l/h
    assert rec.value == pytest.approx(-0.009)


def test_int24_and_int48_lengths() -> None:
    recs = parse_records(bytes.fromhex("0313010203" + "0613010203040506"))
    assert recs[0].raw == 0x030201
    assert recs[1].raw == 0x060504030201


def test_real32_is_shortest_single_precision_decimal() -> None:
    # iem3000: 05 2E = real32 power in kW
    (rec,) = parse_records(bytes.fromhex("052E") + bytes.fromhex("493AAD3D"))
    assert rec.raw == 0.08458383
    assert rec.value == pytest.approx(0.08458383)


def test_date_type_g() -> None:
    (rec,) = parse_records(bytes.fromhex("426CBF2C"))
    assert rec.value == "2021-12-31"


def test_date_time_type_f() -> None:
    (rec,) = parse_records(bytes.fromhex("046D2A06D825"))  # ei6500
    assert rec.vif_range is VifRange.DATE_TIME
    assert rec.value == "2022-05-24 06:42"


def test_date_time_type_i_has_seconds() -> None:
    (rec,) = parse_records(bytes.fromhex("066D37090E223205"))
    assert rec.value == "2025-02-02 14:09:55"


def test_date_time_invalid_flag_gives_none() -> None:
    (rec,) = parse_records(bytes.fromhex("046D8A06D825"))
    assert rec.value is None


def test_date_time_hundred_year_bits_are_ignored() -> None:
    (rec,) = parse_records(bytes.fromhex("046D22484136"))  # uiws: 2026, not 2126
    assert rec.value == "2026-06-01 08:34"


def test_difes_give_storage_tariff_subunit() -> None:
    (rec,) = parse_records(bytes.fromhex("C4C0006E00000000"))  # enercal
    assert (rec.storage, rec.tariff, rec.subunit) == (1, 0, 1)
    (rec,) = parse_records(bytes.fromhex("8E8010833C000000000000"))
    assert (rec.storage, rec.tariff, rec.subunit) == (0, 4, 0)


def test_storage_number_spans_many_difes() -> None:
    (rec,) = parse_records(bytes.fromhex("C4FFFF0F1301000000"))
    assert rec.storage == 1 | (0xF << 1) | (0xF << 5) | (0xF << 9)


def test_more_than_ten_difes_is_format_error() -> None:
    with pytest.raises(FormatError):
        parse_records(bytes.fromhex("84" + "80" * 10 + "0013" + "00000000"))


def test_more_than_ten_vifes_is_format_error() -> None:
    with pytest.raises(FormatError):
        parse_records(bytes.fromhex("0493" + "BC" * 10 + "3C" + "00000000"))


def test_truncated_data_raises_truncated_error() -> None:
    with pytest.raises(TruncatedError):
        parse_records(bytes.fromhex("041301"))


def test_backward_flow_combinable_is_collected() -> None:
    (rec,) = parse_records(bytes.fromhex("04933C05000000"))
    assert rec.combinables == (0x3C,)
    assert rec.vif_range is VifRange.VOLUME


def test_multiplicative_correction_vife_scales_value() -> None:
    # elvaco: 02 FC 03 "HR%" 74 -> x 10^-2 %RH
    (rec,) = parse_records(bytes.fromhex("02FC0348522574" + "2215"))
    assert rec.vif_range is VifRange.PLAIN_TEXT_UNIT
    assert rec.unit == "%RH"
    assert rec.value == pytest.approx(54.10)


def test_manufacturer_vifes_after_ff_vife() -> None:
    (rec,) = parse_records(bytes.fromhex("8101E7FF0F13"))
    assert rec.vif_range is VifRange.EXTERNAL_TEMPERATURE
    assert rec.combinables == (0x7F,)
    assert rec.manufacturer_vifes == (0x0F,)
    assert rec.storage == 2


def test_manufacturer_vif_is_unsigned_raw() -> None:
    (rec,) = parse_records(bytes.fromhex("04FF2300080000"))
    assert rec.vif_range is VifRange.MANUFACTURER_SPECIFIC
    assert rec.manufacturer_vifes == (0x23,)
    assert rec.value == 0x800


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
    (rec,) = parse_records(bytes.fromhex("02FD74EE0F"))
    assert rec.vif_range is VifRange.REMAINING_BATTERY_LIFE
    assert rec.value == 4078


def test_fb_relative_humidity() -> None:
    (rec,) = parse_records(bytes.fromhex("02FB1A0700"))
    assert rec.unit == "rh"
    assert rec.value == pytest.approx(0.7)


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
    (rec,) = parse_records(bytes.fromhex("0DFD0C0820353331334D4569"))
    assert rec.vif_range is VifRange.MODEL_VERSION
    assert rec.value == "iEM3135 "


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
