"""Golden bytes of the two columnar profiles (uplink/columns.py).

The hex literals below were produced by the encoders as they were before the store codec and
the compact wire codec were made one module, and must never be regenerated to make a test
pass:

- a store blob (``concentratord.store.codec``, format byte ``01``) written by any earlier
  version must still decode to the same document, types and key order included
  (docs/decisions/0006-outbox-durability.md: rows are never migrated);
- the compact frame is a head-end contract (docs/uplink.md, "Payload codecs"): the same
  document must give the same frame, and the frame must decode to the same document.

zstd's output may change with the zstd library while the content stays the same, so the
content (the CBOR inside) is compared always, and the frame byte for byte when the zstd
library is the one the fixtures were made with.
"""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
import zstandard

from concentratord.store import codec as store_codec
from uplink.codecs import CompactCodec, Reference

# zstandard.ZSTD_VERSION when the fixtures were captured.
CAPTURED_WITH_ZSTD = (1, 5, 7)
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _hourly(hour: int, meters: int = 12) -> dict[str, Any]:
    """An hourly readings batch shaped like the daemon's (docs/uplink.md), made by
    arithmetic alone so that it can never drift (no random numbers, no helpers)."""
    end = f"2026-03-01T{hour + 1:02d}:00:00Z"
    readings = []
    for m in range(meters):
        litres = 100_000 + m * 37_219 + hour * ((m * 13) % 36)
        readings.append(
            {
                "id": f"{10_000_000 + (m * 7_368_787) % 90_000_000:08d}",
                "manufacturer": "KAM",
                "media": "cold water",
                "meter": "kamwater",
                "current_status": "",
                "time_dry": "",
                "total_m3": litres / 1000,
                "target_m3": (100_000 + m * 37_219) / 1000,
                "flow_temperature_c": 6 + (m + hour) % 7,
                "min_external_temperature_last_month_c": 14,
                "status": "LEAK" if m == 5 else "OK",
                "rssi_dbm": -100 + (m * 11 + hour * 3) % 45,
                "link_mode": "c1",
                "timestamp": f"2026-03-01T{hour:02d}:59:{40 + (m * 7 + hour) % 19:02d}Z",
                "interval_end": end,
            }
        )
    readings.sort(key=lambda r: str(r["id"]))
    return {
        "gateway": "gw-0001",
        "schema": 1,
        "message_id": 100 + hour,
        "type": "readings",
        "batch_id": f"hourly-{1_772_326_800 + 3600 * hour}-default-0",
        "interval": "hourly",
        "interval_end": end,
        "readings": readings,
    }


def _awkward_rows() -> list[dict[str, Any]]:
    """Rows that take every column kind and the fallbacks: mixed types, -0.0, integral
    floats, millisecond times, few distinct strings, key sets in several groups."""
    return [
        {"id": "00000001", "v": 1, "f": -0.0, "x": 0.1 + 0.2, "t": "2026-03-01T10:00:00.250Z"},
        {"id": "00000002", "v": 1.0, "f": 0.0, "x": 1e-300, "t": "2026-03-01T10:00:01.000Z"},
        {"id": "x", "v": True, "f": None, "nested": {"a": [1]}},
        {"id": "00000007", "v": 2**70, "f": 3.0, "x": 2.5, "t": "2026-03-01T09:59:59.999Z"},
        {"a": 1.0, "b": "north", "id": "0003"},
        {"a": 2.0, "b": "south", "id": "0002"},
        {"a": 12.5, "b": "north", "id": "0001"},
        {"a": 1e-05, "b": "north", "id": "0009"},
    ]


def _totals(hour: int, meters: int = 40) -> dict[str, Any]:
    """Volume totals of meters with close ids that grow by a litre or none an hour: the
    ``N``, ``D`` and ``d`` kinds."""
    return {
        "message_id": 200 + hour,
        "interval_end": f"2026-03-01T{hour + 1:02d}:00:00Z",
        "readings": [
            {
                "id": f"{20_000_000 + m * 3:08d}",
                "total_m3": (1_000_000 + m * 98_765 + hour * (m % 3 == 0)) / 1000,
                "count": m * m + hour * (m % 2),
            }
            for m in range(meters)
        ],
    }


def _nested(hour: int) -> dict[str, Any]:
    """Readings whose cells hold lists and objects (docs/uplink.md: any JSON value)."""
    return {
        "message_id": 300 + hour,
        "interval_end": f"2026-03-01T{hour + 1:02d}:00:00Z",
        "readings": [
            {"id": "00000001", "flags": ["LEAK"], "m": {"k": 1, "l": [1.5]}},
            {"id": "00000002", "flags": [], "m": {"k": 2.5, "l": []}},
            {"id": "00000003", "flags": ["DRY", "LEAK"], "m": {"k": None, "l": [{"z": hour}]}},
        ],
    }


def _store_documents() -> dict[str, dict[str, Any]]:
    return {
        "nested": _nested(0),
        "hourly": _hourly(0),
        "totals": _totals(3),
        "awkward": {"interval_end": "2026-03-01T10:00:00Z", "values": _awkward_rows()},
        "exact": {
            "values": [{"a": -0.0, "b": 1e-9}, {"a": 0.1, "b": float("inf")}],
            "order": [{"a": 1, "b": "x"}, {"b": "y", "a": 2}],
            "mixed": [{"a": 1}, {"a": 1.5}, {"a": None}],
            "nested": {"l": [[1, 2], []], "t": [{"k": [{"z": 1}, {"z": 2}]}] * 2},
            "wide": [{"id": "0123", "v": 2**70}, {"id": "12", "v": -1}],
            "ints": [{"n": -(2**63), "m": True}, {"n": 2**63 - 1, "m": False}],
        },
        "alarm": {
            "gateway": "gw-0001",
            "schema": 1,
            "message_id": 7,
            "type": "alarm",
            "id": "12345678",
            "timestamp": "2026-03-01T10:00:00Z",
            "status": "BURST LEAK",
            "previous_status": "OK",
            "raised": ["BURST", "LEAK"],
            "cleared": [],
        },
    }


def _wire_frames() -> dict[str, tuple[dict[str, Any], dict[str, Any] | None]]:
    """Documents and the reference each is coded against (None: self-contained)."""
    awkward_ref = {
        "interval_end": "2026-03-01T09:00:00Z",
        "message_id": 41,
        "readings": [
            {"id": "00000001", "v": 1, "f": 1.5, "x": 0.5, "t": "2026-03-01T09:00:00.250Z"},
            {"id": "00000002", "v": 2, "f": 2.25, "x": 0.1, "t": "2026-03-01T09:00:01.000Z"},
            {"id": "0002", "a": 1.5, "b": "south"},
            {"id": "0009", "a": 3, "b": "north"},
        ],
    }
    awkward = {
        "gateway": "g",
        "message_id": 42,
        "interval_end": "2026-03-01T10:00:00Z",
        "readings": _awkward_rows(),
    }
    return {
        "hourly-keyframe": (_hourly(0), None),
        "hourly-delta": (_hourly(1), _hourly(0)),
        "hourly-delta-5h": (_hourly(5), _hourly(4)),
        "totals-keyframe": (_totals(0), None),
        "totals-delta": (_totals(1), _totals(0)),
        "nested-keyframe": (_nested(0), None),
        "nested-delta": (_nested(1), _nested(0)),
        "awkward": (awkward, None),
        "awkward-delta": (awkward, awkward_ref),
        "alarm": (_store_documents()["alarm"], None),
        "no-readings": ({"gateway": "g", "readings": [], "x": [1.5, "y"]}, None),
    }


STORE_GOLDEN: dict[str, str] = {
    "nested": (
        "0128b52ffd20a88d04003408a36a6d6573736167655f696419012c6c696e74657276616c5f656e6474323032"
        "362d30332d30315430313a30303a30305a6872656164696e6773d9bb81828362696465666c616773616d83d9"
        "bb828302085818010203008381644c45414b80826344525983a2616b01616c81fb3ff8a2616bfb4004616c80"
        "a2616bf6616c81a1617a0004002fa318359ecbf5170dce"
    ),
    "hourly": (
        "0128b52ffd604006c5100036dc6a45206f9c03a000a27d0004150050baa9941100aa70e85448d2e0b7092350"
        "8699df54ae3711692db4490ad954da78d3b31a0563a845fbbfdd8899184985bcc76e2ec437befd494f004b00"
        "5e009d897d3893f315747abbdb13b23f68bf89fd1dbbf38acd19fa703a1c1028c3c89bc7f0fb58554b3fee7b"
        "fb440fb4b53d7f9e22bfd64db5d4bd1645c7a74a63ff38b1cbe69c98caf3c856f9b7e79504bd720a5a8c60c5"
        "d1ce9ec2fe5415de2e77307df772bfed607afbc3ffc85ca963fb9f387ebf481ff49c470eccfe8ebd6d75ecd9"
        "f3f85c7723d8f856bbb1482ab4524a738ae61465f34136b1d9bf5507ea0db953e92064c495d7060683b95c2c"
        "964aa572611a6501110b589460901d1a4e33301028099d4478a1ca64f04881da9864032864821623261287c5"
        "02492b8595c2fda2f51a628a02edb578abd48a62ee38fa3d1862fa62df1b6529d33a9e8f16ca3c9af6f18070"
        "34cd032a4d4d04e211cd32e3b6b2466b84071527487c38415102c406916d14c2a0411d896ce5804b4000001d"
        "1c9a8c89745d974693c96c98681d3c466248401185d85c7041e1c30404192c052bba0b0713e9523195b8515f"
        "192c20a08243a4da6264a000747d648249f08449b749236927421a4f1013869cc4693a841c0940e64b224288"
        "718ea209dcdc1a2200cd155a4fabd2004c1632291d9516400f400602420abda0ad91a6d6d40a1b416c4f9f13"
        "4250b3ff1c6e60c62098c828781811120dc30c"
    ),
    "totals": (
        "0128b52ffd602c03fd0a00b413a36a6d6573736167655f696418cb6c696e74657276616c5f656e6474323032"
        "362d30332d30315430343a30303a30305a6872656164696e6773d9bb81828362696468746f74616c5f6d3365"
        "636f756e7483d9bb82830208590140000306090c0f1215181b1e2124272a2d303336393c3f4245484b4e5154"
        "575a5d606366696c6f72752d3101000103590140430ddaaa744111dba878420fdfa9764610ddad774414deab"
        "7b4512e2ac794913e0b07a4717e1ae7e42c445c749cb4dce50d254d657d95bdd5fe062e466e869eb6def71f2"
        "74f678fa7bfd7f01830486080f101213151618191b1c1e1f2122242527282a2b2d2e303133343637393a3c3d"
        "3f4042444547484a00000004040c101c24344054647c90acc4e40024446c90bce4144074a4dc104c84c40044"
        "84cc105ca4f402030303030404040405050505000c006c408fb34c43327b22e0ab240241103e1127635a9671"
        "00c5805280f20e94400a"
    ),
    "awkward": (
        "0128b52ffd608b00050700d20a2a2f80a96d407e78f8653c048a93054424d1dd8f524beff85ad72256ccc57c"
        "784605aef466db684b3915e28200a52a420210226ac016360700e778d65425b171774aef8c3235e13aff1324"
        "8490711ee88ab888dbc6004d7f4431f83fa0355715db09fb12faafa7772a487767dc40c4a63570a624db3e40"
        "5bff93ee3c8671e57f340cd0be3e29d8f615fdce237a678655d5925e5be98f3b01e74be30be4f9cb145702e9"
        "355533be12421720b0829a991ebf992db67db9dd7a4c610fa196b451ac5419cce1534db88a62897328deb487"
        "202bc59c4e4a3d948d034ed580e601"
    ),
    "exact": (
        "0128b52ffd600a00d505007409a66676616c756573d9bb818282616161628282fb8000fb3fb9999a82fb3e11"
        "2e0be826d695f97c00656f7264657282a261610161626178a261626179616102656d69786564816161818301"
        "fb3ff8f6666e6573746564a2616c828201028061746b81827a81d9bb82830000500102006477696465626964"
        "61768282643031323362313282c249402064696e746e616d8200ff807f82f5f40d0039c74f64123659474a61"
        "67ae17aab1b89358c680d40830724a080d42368026"
    ),
    "alarm": (
        "0128b52ffd209c7d0400920820256055d401300c039f90acb6d2ba5db26edb246ba51096bbe98694151e0c10"
        "1b15388200815c93f7b9b724f80ef0ce71e7e4342288b32b4a3eb1cb492c1883e7e180282ace7a9ba78822d4"
        "3d4e15469566d1a531b9cd97b1e3c1d01408cce2a8172339d7da1fdbfa095e840e97f9b20aac3c25f1e45455"
        "d120dc567b2f840101040020445237e573dc327066"
    ),
}
WIRE_GOLDEN: dict[str, str] = {
    "hourly-keyframe": (
        "28b52ffd607b012d0e00961a603a40753a4c9c1056c169ebc1b03ad9ddc011ff8965f8606968cb02ad6dd9d6"
        "a4dc3b892c15b173030e664c1041c8b4d1b05d8cdd5e97aa592d760b4b004a00550093b4edf7d4b30bdf3908"
        "7e4e719ea3e8df1fbe53db5ee8dc5b6d4e5306a944d2d0d834d1d3e1ea36b82ca6b76e47dd6dcea9b5ba4ef4"
        "d66fefbaccf3df0a7260f761ebafefb3c46d69b25720a86fa5777f1b74cff3cff5f4c379c2a57f7f7ec7f6f3"
        "ebea5cf879f6deae3255618caaf475b85d3f2bffa6ad95c76930dcbe41babfd73aac5feca5329accb9b14d92"
        "6d6aa5a96590020b0c0e238953632392dac421920f393a0072a7c404408a3d3e99a4688999e41128c8640a4c"
        "4c48c2083e7f211c1814100c08c0b08f27d5c718422953cff76a5f56f60d62515bfa19ef5bca747fa77d632e"
        "a32cc5013f240a2da20243c2629bb828c15c62335866db57ea0b830c4b26faf057280bc14e1d1e21f634821a"
        "df5f11a6836a8281f898905d75ab8ffab7b720acb7aa29918e53dd2aaa7af551219503e40d50d048aa5a6023"
        "19190040c25a6e56a08b65668080c35cab50328c03dc0b115e20a7002550969e552e63d91b60430502c85238"
        "461760960a3406b871b05ceac0058a705b8198a1414501"
    ),
    "hourly-delta": (
        "28b52ffd600801150b003655492c705907fcffffff7f33edb1494f1a45bb53d5713b4de4de3bb9253ffef460"
        "0f6d56aa217b144f7141e93fbb053c003e003700d9bfbc23f59e3c3b74eb51aaa1df97e170301e8bcce7697c"
        "acecad23f84d1a3194524f258aac56f9b728768d7d04cdd014cb6bdbf3e828d65b5c001628ec5f552732cce6"
        "f9fd66fdd2733ec172f66a29128883a1401808021d4076dbf51a51eac95011867a1ff536199a795b7a259d61"
        "6f75b14dd37129243b153f7eb8be8bb9ff869864eb35cd3c8275fcf284eb9b4d925daebc96174b56d9dfb1f7"
        "b58e3d831d9e6563d2ed0957d3b5970456cfe777f6234a3d947a300c572e84a2356cb10ee0900940fdc2482c"
        "dfe402a1d0482523b3d56ed7d17dc3281d0128e964b65d9f6ecd161fae64ffe94714ee372f2bdbeaf8061720"
        "104ac88c1e7dc9c3c19d12ef17800924e0ee356f84030079fecc2da25ce006da5e001984d4e19a702f041a07"
        "ae7a1eb0030c00d10c0dc30c"
    ),
    "hourly-delta-5h": (
        "28b52ffd600801550b00d6d4492d605907a808cc210882d6060a0d999b251a9225b6ed51cbbd77724f7c7531"
        "f1cecc40d4a8a55d4c0a0000c226013d003e003800bf516c56719f2c27ff8ab5863a1dce0604d288b053b354"
        "e6e375b135c7ed2753536b155d650973d76f2fcbd0f39b634aa6258aafbf367f05dbb717a005bfad4b75923a"
        "656ddfa9dde86bcd1ad1db2ca648200e860261200884001b76d9cc54abe8534b9a2a72aaf8d9d4cdbee8db13"
        "332eb65f7a9a7e4691a7b774789b9c6cf797da3726f3e95a9ca6da1cadb9d19dfa793afa7a8be22c79e9df9f"
        "dff1fdfc7a7492857a3effaab24d5d7c1aed6bd676fdab1ca65a45b58a3c26431604e278b986ae16021c3601"
        "c967228492895834920b6782b1fd7c3bec08b7d32a21c1184ac2d0765d36f2d86d71fa566d7395314c5ffb39"
        "1a201042c7ce0e870e42009eac7728400d09b96799e4c207407e7f7687b000acff017018023e30800d152890"
        "258ed104661dca3a00ea71c00a1860a2191a9819"
    ),
    "totals-keyframe": (
        "28b52ffd609400550b008616573c00d7c67cbd06fbe3e4a188f858faff9392af3afdff616117890d02ae893b"
        "44a21524596c046ae1b38c1725ad22b2b1238c4d6c923a35bdf0ca76650a4d0042004500083319ccd5221810"
        "0858a5add2206199597517ba7cc272893cd27432e5684a09483ccf31321e2cfb6b5965cbae2ebbf276ec4e6e"
        "46e3e513563989e5a8f309e44de732168151506228494d3a076ff323eb377a63fd2d9f57bf90e8ea55083caf"
        "7a6dd35769581bf09c740d47fad15f2ffad0830ef40af779cf29dcf5d6257c759d3f78ce71dee037b7b982d7"
        "9ce6010f7b8ae83786acfd2b4ebafe1c26447f1293daff5ae6fa8b49b87e950f877e9c22867ea48e5bbf8bc8"
        "d64f542ef4a70c25f4df70d4fa8f8468fd0549ef1f061df4cbc85907532fac8cfe9e198cfe268063bfc1fcf6"
        "1f5363bf0b0cb19fa74ad8cff412ec975101fb2f582cfa5ba67efd3bb2af7f49aad71f33e1f5bf5113fd2c50"
        "b75f07aaed5772b21d03005501e4761f6301a707"
    ),
    "totals-delta": (
        "28b52ffd20efe50300d2861a21a0bb01ff3f00ffee5742370b594824b9c564fad2dd01d203774aab14500712"
        "91018b3b75a74417b30f42406e02f2fb78cc7eb6652ca29a5f4ffab198d1923535776f0c80724b3edb8b3b75"
        "a7d315c287c20763fad456ba35ff455d2de1ec458beb75beaa6e047181160500407310ba27e70f464230f403"
        "f6"
    ),
    "nested-keyframe": (
        "8301a26a6d6573736167655f696419012c6c696e74657276616c5f656e6474323032362d30332d3031543031"
        "3a30303a30305a8281838365666c616773626964616d03838261728381644c45414b808263445259644c4541"
        "4b83616e088301020382617283a2616b01616c81f93e00a2616bf94100616c80a2616bf6616c81a1617a00f6"
    ),
    "nested-delta": (
        "28b52ffd208df5030002481d21a0ab03a8ffff7f477c746f3779ff433c7bffcc124bc1dceec26f1db06bd4fe"
        "bd034df7ec9ec520850e94dbbf6b0f52cf9c7d5c42ea392ae1b597d433bede25bfc92f0eaa43f5c1a4db8862"
        "7c0119717d879beed93d8d668a268e2610a38d0cb2a863af5d34b3aa25a40055874ac7305a4d19f002010078"
        "778428"
    ),
    "awkward": (
        "28b52ffd6012009d0700720e352c6059079f5682ca2cc482c07c3e0d88fedbe389889c92abd18e1ee54ece71"
        "2ce6624fc237bfecadcd8ebd530aee2e32446f19c1c55105dccfdddeaa08a74ea81561d4e9dad47e769de1d0"
        "e4a53036498b79936a20f439033eff9ff3cf5fff35d603419faaae7ad362d4de909a1bb3727cc1dce2de7c28"
        "89ec2cc3be68725d599d2144e476f07033ef56f4c6047e55207a1edccf9d59bbd776ad19f5296c64bdeaf19b"
        "a34fe86139a79d92523e368fd211291d134809c1e6b59ed2ab5016df51a98130471e7b3e8a5a13e9fcd6af2c"
        "fef3b4790e0b08f01ae34c312b350a6c7f9d06ab3b6d42c065a76229d33e99db03"
    ),
    "awkward-delta": (
        "28b52ffd607200cd0800a2ce362e60770ef31b95a18e481504a2e48242954cf9eafd723e95fb7b65bb194d38"
        "95da7eee7e640940dde84c3b74369132a3d6a2d63cf1f50ed165cbc0c3851ec85e07a4df7ab82a4a37f9ddf4"
        "097a36bbceffb72dbe604b06467e1fc3305c40c4507f2489f660cc4be65a46fdb3486f23bfbb99fd72f375a7"
        "a6db6e6837d82175e5dcc311abe4f0e4cdb8af6350f65a658c0d338fc0dfa53c0ae3179fdeae7e4f75a4679f"
        "7f8976cc4fb529af4364ac42bfb7a3163543c3d0a0438391866ef032dd1cd0b3eae6290a527c25cad9e7afeb"
        "0e7dce2ffd68f33fcf56e7061b28204443cd364053521a0ebbc6038a400ad66b38a35def6530600420598c04"
        "8d0f32dcc212cf728999066ce72a91f2f36a2a1a0819d038e72850"
    ),
    "alarm": (
        "28b52ffd209f7d0400c2082020a0edffffffecfff9d076132933c4a5658b48d285ff1f26b71d7e2d17fb9ecd"
        "042b2465981ec14cbe1882c1cdd863d7fabfeeb28c252ac20e861d92c2163bfc7cebfff2ce84b576283136bd"
        "fced189ff7457f4fc342a7c7ed5b6f807fcf697a839a27ba153559cea3f7757671fb44f7fc3f34f75d940439"
        "8c82e06ece54200d0400c5306d74012058f735f7"
    ),
    "no-readings": ("8301a3617882f93e006179676761746577617961676872656164696e677380f6"),
}


def _wire_encode(doc: dict[str, Any], reference: dict[str, Any] | None) -> bytes:
    if reference is None:
        return CompactCodec().encode(doc)
    return CompactCodec().encode(doc, Reference(reference["message_id"], reference))


def _content(frame: bytes) -> bytes:
    if frame.startswith(_ZSTD_MAGIC):
        return zstandard.ZstdDecompressor().decompress(frame)
    return frame


def _typed(value: Any) -> Any:
    """``value`` with every object's keys sorted and every scalar paired with its type and
    repr (1, 1.0 and True, 0.0 and -0.0 differ)."""
    if isinstance(value, dict):
        return sorted((k, _typed(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, repr(value))


def _same_zstd() -> bool:
    return tuple(zstandard.ZSTD_VERSION) == CAPTURED_WITH_ZSTD


@pytest.mark.parametrize("name", sorted(_store_documents()))
def test_a_blob_written_before_decodes_to_the_same_document(name: str) -> None:
    document = _store_documents()[name]
    back = store_codec.decode(bytes.fromhex(STORE_GOLDEN[name]))
    assert back == document
    assert repr(back) == repr(document)  # same types, key order and float signs


@pytest.mark.parametrize("name", sorted(_store_documents()))
def test_the_store_still_writes_format_1_as_before(name: str) -> None:
    # Format 1 means these bytes: a new layout would need a new format byte (docs/decisions/
    # 0006), and the disk figures of bench/disk.py stay what they were.
    blob = store_codec.encode(_store_documents()[name])
    golden = bytes.fromhex(STORE_GOLDEN[name])
    assert blob[:1] == golden[:1] == b"\x01"
    assert _content(blob[1:]) == _content(golden[1:])
    if _same_zstd():
        assert blob == golden


@pytest.mark.parametrize("name", sorted(_wire_frames()))
def test_the_compact_frame_of_a_document_is_unchanged(name: str) -> None:
    doc, reference = _wire_frames()[name]
    frame = _wire_encode(doc, reference)
    golden = bytes.fromhex(WIRE_GOLDEN[name])
    assert frame.startswith(_ZSTD_MAGIC) == golden.startswith(_ZSTD_MAGIC)
    assert cbor2.loads(_content(frame)) == cbor2.loads(_content(golden))
    assert _content(frame) == _content(golden)
    if _same_zstd():
        assert frame == golden


@pytest.mark.parametrize("name", sorted(_wire_frames()))
def test_a_compact_frame_captured_before_decodes_to_its_document(name: str) -> None:
    doc, reference = _wire_frames()[name]
    held = {} if reference is None else {reference["message_id"]: reference}
    decoded = CompactCodec().decode(bytes.fromhex(WIRE_GOLDEN[name]), held)
    assert decoded == doc
    # Canonical CBOR sorts the keys (JSON objects are unordered); types and signs must hold.
    assert _typed(decoded) == _typed(doc)


def capture() -> None:  # pragma: no cover - run by hand, once, before the codecs changed
    """Print the golden dictionaries from the encoders as they are."""

    def literal(name: str, data: bytes) -> None:
        text = data.hex()
        print(f'    "{name}": (')
        for i in range(0, len(text), 88):
            print(f'        "{text[i : i + 88]}"')
        print("    ),")

    print(f"CAPTURED_WITH_ZSTD = {tuple(zstandard.ZSTD_VERSION)}")
    print("STORE_GOLDEN: dict[str, str] = {")
    for name, document in _store_documents().items():
        literal(name, store_codec.encode(document))
    print("}")
    print("WIRE_GOLDEN: dict[str, str] = {")
    for name, (doc, reference) in _wire_frames().items():
        literal(name, _wire_encode(doc, reference))
    print("}")


if __name__ == "__main__":  # pragma: no cover
    capture()
