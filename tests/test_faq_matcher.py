"""The normaliser on informal Indonesian, the matcher's decisions, and masking for logs."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from rapidfuzz import fuzz, process

from faq.matcher import Matcher, Taught
from faq.model import Entry, KnowledgeBase, Localized, Source, Topic, load_knowledge_base
from faq.normalize import Lexicon, Normalizer, mask_personal_numbers, normalize

ROOT = Path(__file__).resolve().parent.parent


# --- normalisation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GRATISSS bangettt", "gratis banget"),
        ("Gmn cara daftar G2G korsel???", "bagaimana cara daftar g to g korea selatan"),
        ("yg udh blm", "yang sudah belum"),
        ("gk ga gak nggak tdk", "tidak tidak tidak tidak tidak"),
        ("brp kpn dmn knp", "berapa kapan dimana kenapa"),
        ("sy aq gw gue", "saya saya saya saya"),
        ("dgn utk untk krn jd sdh bs bsa", "dengan untuk untuk karena jadi sudah bisa bisa"),
        ("bener beneran", "benar benar"),
        ("gtog gtg g-to-g", "g to g g to g g to g"),
        ("tki tkw pmi", "tki tkw pmi"),  # TKW is a woman migrant worker, not any TKI
        ("visa E-7, e 7 atau E7", "visa e7 e7 atau e7"),
        ("S-1 atau s 1, sarjana", "s1 atau s1 s1"),
        ("bayar 10jt atau 10 juta", "bayar 10 juta atau 10 juta"),
        ("G-2-G, g 2 g", "g to g g to g"),
        ("a 2 year contract", "a 2 year contract"),
        ("min, kak, gan, bang, bro, sis, pak, bu, admin, mimin: info dong", "informasi"),
        ("mimiiin kaaak", ""),
        ("syarat2nya apa", "syarat apa"),
        ("biayanya", "biaya"),
        ("gra\u200btis\u200d\ufeff", "gratis"),
        ("🇰🇷 korea 😍🙏!!!", "korea"),
        ("ＧＲＡＴＩＳ", "gratis"),
        ("한국 취업 😊", "한국 취업"),
        ("العمل في كوريا؟", "العمل في كوريا"),
        ("abdi bade daftar, kumaha carana?", "saya ingin daftar bagaimana cara"),
        ("syarate opo wae", "syarat apa saja"),
        ("tes tahap dua", "tes tahap 2"),
        # accents folded (Sundanese is typed with and without them), Hangul left whole
        ("béja énggal", "kabar baru"),
        ("naon ari EPS téh", "apa ari eps"),
        # the Javanese of Serang; an expansion's own words are expanded ("ujiane" -> "ujian")
        (
            "sire arep takon, kite kudu nyetor duit pira",
            "kamu ingin tanya saya harus bayar uang berapa",
        ),
        ("ujiane", "tes"),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "halo",
        "Halo kak, selamat pagi!",
        "assalamualaikum min",
        "terima kasih banyak ya kak 🙏",
        "makasih min",
        "ok",
        "oke siap",
        "apa?",
        "yang mana",
        "hi",
        "Hello, good morning",
        "thanks!",
        "thank you very much",
        "😀😀",
    ],
)
def test_smalltalk_has_no_content(text: str) -> None:
    assert Normalizer()(text).is_smalltalk


def test_content_keeps_topic_words_and_protected_phrases() -> None:
    norm = Normalizer()("Halo min, apa itu G to G ke korea?")
    assert norm.text == "halo apa itu g to g ke korea"
    assert norm.content == ("g", "to", "g", "korea")
    assert Normalizer()("how to apply").content == ("apply",)


def test_spelling_correction_uses_the_vocabulary() -> None:
    normalizer = Normalizer(vocabulary=["pelatihan", "keberangkatan", "gratis"])
    assert normalizer("pelatihn kapan").content == ("pelatihan", "kapan")
    assert normalizer("keberangktan").content == ("keberangkatan",)
    assert normalizer("rendang").content == ("rendang",)  # nothing close: left alone


def test_spelling_correction_leaves_short_and_function_words_alone() -> None:
    normalizer = Normalizer(vocabulary=["cover", "picks", "gratis", "syarat"])
    assert normalizer("over").words == ("over",)  # one letter from "cover", but too short
    assert normalizer("pick").words == ("pick",)
    assert normalizer("syart").words == ("syarat",)  # five letters: corrected
    assert normalizer("gratiss").words == ("gratis",)


def test_unknown_words_meet_their_known_stem() -> None:
    normalizer = Normalizer(vocabulary=["factory", "negotiate", "pungut", "sector", "bayar"])
    assert normalizer("factories negotiated dipungut sectors").words == (
        "factory",
        "negotiate",
        "pungut",
        "sector",
    )
    assert normalizer("bayaran").words == ("bayar",)
    assert normalizer("rendang").words == ("rendang",)  # no known stem, nothing close


def test_amounts_glued_to_units_are_split() -> None:
    assert (
        normalize("bayar 10jt, tinggi 150cm, umur 30thn")
        == "bayar 10 juta tinggi 150 cm umur 30 tahun"
    )
    assert normalize("e9 n4 bp2mi 3673") == "e9 n4 bp2mi 3673"  # codes stay whole


def test_spelling_correction_reads_only_reachable_lengths() -> None:
    """The length window finds exactly what a search of the whole vocabulary finds."""
    plain = Normalizer()
    texts = [t for e in load_knowledge_base().entries for t in e.texts_to_match()]
    kb_words = sorted({w for text in texts for w in plain(text).words})
    normalizer = Normalizer(vocabulary=kb_words)
    for word in [
        "pelatihn",
        "keberangktan",
        "beasiswaa",
        "pendidkan",
        "kontrakk",
        "rendang",
        "persyaratn",
        "administrasi",
        "tuberkulosiss",
        "gajih",
        "kouta",
        "jepan",
    ]:
        best = process.extractOne(word, kb_words, scorer=fuzz.ratio, score_cutoff=88)
        assert normalizer(word).words == ((best[0] if best else word),), word


def test_lexicon_rejects_malformed_words(tmp_path: Path) -> None:
    bad = tmp_path / "lexicon.yaml"
    bad.write_text("abbreviations: {yg: yang}\nnoise: [Min!]\nstopwords: []\nkeep_phrases: []\n")
    with pytest.raises(ValueError, match="not a plain lower-case word: 'Min!'"):
        Lexicon.load(bad)


def test_dialect_affixes_meet_the_knowledge_base_word() -> None:
    # Sundanese nga-, Javanese n-, Sundanese -na and Javanese -e: only onto a word the base uses
    normalizer = Normalizer(vocabulary=["hapus", "daftar", "pendaftaran", "syarat"])
    assert normalizer("ngahapus pendaftarane").words == ("hapus", "pendaftaran")
    assert normalizer("ngarapus").words == ("ngarapus",)  # no known stem: left alone


def test_lexicon_chains_resolve_and_cycles_stop(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.yaml"
    path.write_text(
        "abbreviations: {a1: bb cc, bb: dd, cc: cc, xx: yy, yy: xx}\n"
        "noise: []\nstopwords: []\nkeep_phrases: []\n"
    )
    lexicon = Lexicon.load(path)
    assert lexicon.abbreviations["a1"] == ("dd", "cc")
    assert lexicon.abbreviations["xx"] == ("xx",)


def test_package_lexicon_is_in_normal_form() -> None:
    lexicon = Lexicon.load()
    assert "yg" in lexicon.abbreviations and "min" in lexicon.noise
    assert ("terima", "kasih") in lexicon.stop_phrases["terima"]
    assert not lexicon.noise & lexicon.stopwords


# --- decisions on a tiny knowledge base -------------------------------------------------------


def entry(entry_id: str, question: tuple[str, str], id_: list[str], en: list[str]) -> Entry:
    return Entry(
        id=entry_id,
        topic="costs",
        question=Localized(*question),
        phrasings=Localized(tuple(id_), tuple(en)),
        keywords=Localized((), ()),
        answer=Localized("Jawaban.", "Answer."),
        detail=None,
        sources=(Source("Pemkot Serang", None),),
        checked=date(2026, 11, 28),
    )


KB = KnowledgeBase(
    topics=(Topic("costs", "💰", Localized("Biaya", "Costs")),),
    entries=(
        entry(
            "free-departure",
            ("Apakah keberangkatan gratis?", "Is departure free?"),
            ["berangkat gratis", "tiket pesawat dibayar siapa", "gratis tidak ke korea"],
            ["free departure", "who pays the flight", "is it free to go"],
        ),
        entry(
            "age-limit",
            ("Berapa batas umur?", "What is the age limit?"),
            ["umur maksimal", "usia minimal daftar", "batas usia"],
            ["maximum age", "minimum age", "how old must i be"],
        ),
        entry(
            "training-start",
            ("Kapan pelatihan dimulai?", "When does the training start?"),
            ["jadwal pelatihan", "pelatihan mulai kapan", "kapan mulai pelatihan bahasa"],
            ["training schedule", "when is the training", "when do classes start"],
        ),
        entry(
            "training-cost",
            ("Apakah pelatihan bayar?", "Does the training cost money?"),
            ["biaya pelatihan", "pelatihan bayar tidak", "harga kursus bahasa korea"],
            ["training fee", "do i pay for the training", "cost of the course"],
        ),
    ),
)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(KB, threshold=70, margin=5)


@pytest.mark.parametrize(
    ("text", "entry_id"),
    [
        ("umur maksimalnya brp kak?", "age-limit"),
        ("berangkat ke korea GRATISSS gak min??", "free-departure"),
        ("siapa yg bayar tiket pesawatnya", "free-departure"),
        ("kapan mulai pelatihannya", "training-start"),
        ("biaya pelatihn brp", "training-cost"),  # a typo, corrected to the KB's word
        ("What is the maximum age?", "age-limit"),
        ("how much is the training fee", "training-cost"),
    ],
)
def test_clear_questions_are_answered(matcher: Matcher, text: str, entry_id: str) -> None:
    match = matcher.match(text)
    assert (match.kind, match.entry and match.entry.id) == ("answer", entry_id)
    assert match.suggestions == ()
    assert match.score >= matcher.threshold


def test_ambiguous_question_suggests_the_close_entries(matcher: Matcher) -> None:
    match = matcher.match("pelatihan")
    assert match.kind == "suggest" and match.entry is None
    assert {e.id for e in match.suggestions} == {"training-start", "training-cost"}


# The gate's own decisions (threshold, margin, list length) are tested without the second
# opinion, which may overrule them (tests/test_faq_second.py).


def test_max_suggestions_caps_the_list() -> None:
    wide = Matcher(KB, threshold=1, margin=100, max_suggestions=2, second_opinion=False)
    match = wide.match("umur maksimal")
    assert match.kind == "suggest"
    assert match.suggestions[0].id == "age-limit"
    assert len(match.suggestions) == 2


def test_margin_decides_between_answer_and_suggest() -> None:
    text = "pelatihan mulai kapan"
    assert Matcher(KB, threshold=70, margin=0, second_opinion=False).match(text).kind == "answer"
    gate = Matcher(KB, threshold=70, margin=100, second_opinion=False)
    assert gate.match(text).kind == "suggest"


def test_threshold_decides_between_answer_and_the_rest() -> None:
    real = Matcher(load_knowledge_base(), second_opinion=False)
    text = "does being married stop me from applying"
    score = real.match(text).score
    assert 0 < score < 100
    assert Matcher(real.kb, threshold=score, second_opinion=False).match(text).kind == "answer"
    below = Matcher(real.kb, threshold=score + 0.5, second_opinion=False).match(text)
    # under the threshold the citizen is asked "Maksud Anda…?" (or, far under it, falls back)
    assert below.kind in {"suggest", "fallback"} and below.entry is None


def test_one_shared_keyword_among_unknown_words_never_answers() -> None:
    match = Matcher(KB).match("tiket konser blackpink jakarta")
    assert (match.kind, match.entry) == ("fallback", None)


def test_taught_phrasing_and_off_topic_take_effect_at_once() -> None:
    live = Matcher(KB)
    live.learn(Taught(phrasings=(("training-start", "kapan kelas dibuka"),)))
    assert live.match("kapan kelas dibuka").entry == KB.by_id["training-start"]
    live.learn(Taught(off_topic=("berapa umur kucing saya",)))
    assert live.match("berapa umur kucing saya").kind == "fallback"
    with pytest.raises(KeyError):
        live.learn(Taught(phrasings=(("no-such-entry", "x"),)))


def test_short_taught_questions_take_effect_too() -> None:
    # one or two content words are decided by the keywords: taught texts count among them, and
    # a message staff marked off-topic falls back before the keywords are read
    live = Matcher(load_knowledge_base())
    before = live.match("umur bts berapa")
    assert before.kind != "fallback"
    live.learn(Taught(off_topic=("umur bts berapa",), phrasings=(("im-japan", "gaji oppa"),)))
    assert live.match("umur bts berapa").kind == "fallback"
    taught = live.match("gaji oppa")
    assert (taught.kind, taught.entry and taught.entry.id) == ("answer", "im-japan")


@pytest.mark.parametrize("text", ["cara masak rendang", "jual motor bekas", "asdfghjkl"])
def test_unrelated_questions_fall_back(matcher: Matcher, text: str) -> None:
    match = matcher.match(text)
    assert (match.kind, match.entry, match.suggestions) == ("fallback", None, ())
    assert match.score < matcher.threshold


@pytest.mark.parametrize("text", ["halo kak", "makasih min 🙏", "ok", "apa", "", "   "])
def test_smalltalk_never_matches(matcher: Matcher, text: str) -> None:
    match = matcher.match(text)
    assert (match.kind, match.entry, match.score, match.suggestions) == ("smalltalk", None, 0, ())


@pytest.mark.parametrize(
    "text", ["한국에서 일하고 싶어요", "أريد العمل في كوريا", "x" * 5000, "😀 1 2"]
)
def test_odd_input_does_not_crash(matcher: Matcher, text: str) -> None:
    assert matcher.match(text).kind in {"fallback", "smalltalk"}


def test_match_reports_the_normalised_query(matcher: Matcher) -> None:
    assert matcher.match("Gmn cara daftar G2G min?").normalized == "bagaimana cara daftar g to g"


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Matcher(KB, threshold=120)
    with pytest.raises(ValueError):
        Matcher(KB, max_suggestions=1)


# --- masking personal numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("NIK saya 3673014101990001 kak", "NIK saya 3673********0001 kak"),
        ("nik 3673 0141 0199 0001", "nik 3673********0001"),
        ("3673.0141.0199.0001?", "3673********0001?"),
        ("hp 081234567890", "hp [TELEPON]"),
        ("wa: +62 812-3456-7890.", "wa: [TELEPON]."),
        ("6281234567890 atau 0812 3456 789", "[TELEPON] atau [TELEPON]"),
        ("umur 25 tahun, lulus 2019, kuota 1000", "umur 25 tahun, lulus 2019, kuota 1000"),
        ("kantor 0254 123456", "kantor 0254 123456"),
    ],
)
def test_mask_personal_numbers(text: str, masked: str) -> None:
    assert mask_personal_numbers(text) == masked


# --- the domain stays free of Telegram --------------------------------------------------------


def test_importing_faq_never_imports_telegram() -> None:
    code = (
        "import sys, faq, faq.model, faq.normalize, faq.matcher; "
        "assert 'telegram' not in sys.modules, 'faq imported telegram'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
