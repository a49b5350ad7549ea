"""Kota Serang wilayah data: 6 kecamatan, 67 kelurahan (Kepmendagri 100.1.1-6117/2022)."""

from screening.identity import load_wilayah

EXPECTED_COUNTS = {
    "serang": 12,
    "kasemen": 10,
    "walantaka": 14,
    "curug": 10,
    "cipocok_jaya": 8,
    "taktakan": 13,
}


def test_six_kecamatan_with_their_codes_in_order() -> None:
    wilayah = load_wilayah()
    assert (wilayah.code, wilayah.name) == ("36.73", "Kota Serang")
    assert [kec.id for kec in wilayah.kecamatan] == list(EXPECTED_COUNTS)
    assert [kec.code for kec in wilayah.kecamatan] == [f"36.73.0{i}" for i in range(1, 7)]


def test_sixty_seven_kelurahan_with_the_counts_of_the_brief() -> None:
    wilayah = load_wilayah()
    counts = {kec.id: len(kec.kelurahan) for kec in wilayah.kecamatan}
    assert counts == EXPECTED_COUNTS
    assert sum(counts.values()) == 67


def test_ids_are_unique_short_ascii_and_fit_callback_data() -> None:
    wilayah = load_wilayah()
    assert len({kec.id for kec in wilayah.kecamatan}) == 6
    for kec in wilayah.kecamatan:
        kel_ids = [kel.id for kel in kec.kelurahan]
        assert len(set(kel_ids)) == len(kel_ids)
        for kel_id in [kec.id, *kel_ids]:
            assert kel_id.isascii() and len(kel_id) <= 20
        assert all(len(f"kel:{kec.id}:{kel_id}".encode()) <= 64 for kel_id in kel_ids)


def test_lookups_including_the_two_sukawana() -> None:
    wilayah = load_wilayah()
    assert wilayah.kelurahan("serang", "sukawana") is not None
    assert wilayah.kelurahan("curug", "sukawana") is not None
    karundang = wilayah.kelurahan("cipocok_jaya", "karundang")
    assert karundang is not None and karundang.name == "Karundang"
    cipocok = wilayah.kecamatan_by_id("cipocok_jaya")
    assert cipocok is not None and cipocok.name == "Cipocok Jaya"
    assert wilayah.kecamatan_by_id("tangerang") is None
    assert wilayah.kelurahan("kasemen", "karundang") is None


def test_thirty_eight_province_codes_including_banten() -> None:
    provinces = load_wilayah().provinces
    assert len(provinces) == 38
    assert provinces["36"] == "Banten"
    assert {"91", "92", "93", "94", "95", "96"} <= provinces.keys()
