"""Spelling and vocabulary markers that tell Malay (Bahasa Malaysia) from Indonesian.

langdetect has no Malay profile and every general-purpose detector we measured confuses the pair
(docs/quality-language.md). The two standards share grammar and most of their vocabulary, but they
differ in spelling (``kerana``/``karena``, ``universiti``/``universitas``), in loanword adaptation
(``polis``/``polisi``, ``muzik``/``musik``) and in everyday words (``kilang``/``pabrik``,
``peguam``/``pengacara``). The lists below come from those documented differences (Dewan Bahasa
dan Pustaka and KBBI spellings, the usual Malaysian/Indonesian vocabulary comparison tables), not
from the evaluation sentences. Words that are common in both standards in another sense were left
out or given weight 1 after checking them against lingua's sentences 301-1000 (never the
evaluation lines): ``penyelidikan`` is Indonesian for a police inquiry, ``kerajaan`` is a kingdom
in Indonesian history writing, ``gempa susulan`` is an Indonesian aftershock.

Weight 2: a spelling or word the other standard does not use (``bahawa``, ``bahwa``). Weight 1: a
strong preference that the other standard also knows in another sense or in informal writing
(``daripada`` is Malay's "from" but also Indonesian's "than"; ``saja`` is informal Malay too).
"""

import re
from typing import NamedTuple


def _weighted(weight: int, words: str) -> dict[str, int]:
    """``{word: weight}`` for every whitespace-separated word in ``words``."""
    return dict.fromkeys(words.split(), weight)


MALAY_WORDS: dict[str, int] = {
    # Function words and spellings (Indonesian: bahwa karena saja setelah yaitu senantiasa ...).
    **_weighted(
        2,
        """bahawa kerana sahaja selepas iaitu sentiasa walaubagaimanapun sesetengah berbanding
        ekoran justeru mahu baharu wang mencuba dicuba berfikir fikiran jadual""",
    ),
    # -iti loan spellings (Indonesian -itas).
    **_weighted(
        2,
        """universiti kualiti aktiviti komuniti identiti kapasiti realiti majoriti minoriti
        prioriti autoriti integriti kreativiti produktiviti fasiliti sekuriti""",
    ),
    # Other loan spellings (Indonesian: televisi telepon musik dokter obat proyek ...).
    **_weighted(
        2,
        """televisyen telefon muzik muzium filem doktor ubat projek teknikal moden kempen akaun
        mesej teksi basikal motosikal kolej peratus bilion trilion rasmi perasmian palestin
        kristian""",
    ),
    # Administration, economy, everyday words (Indonesian: perusahaan layanan investasi ...).
    **_weighted(
        2,
        """syarikat perkhidmatan pelaburan kakitangan mesyuarat jawatankuasa kenderaan kesihatan
        tentera ketenteraan parlimen bandaraya peperiksaan setiausaha jurucakap peguam cukai
        kilang jenama pelancongan pelancong kemalangan kewangan antarabangsa serantau tempatan
        pentadbiran bekalan pembekal pensyarah biasiswa yuran perisian akhbar pelakon pelancaran
        kejohanan sukan menjaringkan pengundi sokongan menyokong disokong perniagaan jurulatih
        ringgit majlis pesakit jiran senapang""",
    ),
    # Months and days, country names (Indonesian: Agustus Juli Desember Senin Kamis Jumat ...).
    **_weighted(2, "ogos julai disember isnin khamis jumaat inggeris jepun"),
    # Preferences the other standard knows in another sense.
    **_weighted(
        1,
        """kerajaan daripada boleh polis bilik kedai kelmarin faham menerusi manakala seramai
        jawatan hospital semalam petang bermula menghantar agensi mangsa lori cuba fikir esok
        dikenali mengandungi maklumat dilancarkan mencadangkan dicadangkan sebarang elektrik
        isteri saintis""",
    ),
}

INDONESIAN_WORDS: dict[str, int] = {
    **_weighted(
        2,
        """bahwa karena yaitu bisa uang justru coba mencoba dicoba pikir berpikir pikiran
        ujarnya""",
    ),
    # -itas loan spellings (Malay -iti).
    **_weighted(
        2,
        """universitas kualitas aktivitas komunitas identitas kapasitas realitas mayoritas
        minoritas prioritas otoritas integritas kreativitas produktivitas fasilitas sekuritas""",
    ),
    **_weighted(
        2,
        """televisi telepon musik dokter obat proyek listrik kampanye akun taksi sepeda persen
        miliar triliun resmi peresmian tiongkok""",
    ),
    **_weighted(
        2,
        """karyawan kendaraan kesehatan tentara parlemen sekretaris pajak pabrik merek pariwisata
        wisatawan kecelakaan keuangan internasional peneliti penelitian dosen beasiswa unduh
        koran bioskop peluncuran diluncurkan kejuaraan kebijakan pemilu kantor jadwal bandara
        provinsi kabupaten kecamatan rupiah wib pasien tetangga istri senapan ponsel""",
    ),
    **_weighted(2, "senin kamis jumat agustus maret desember inggris jepang"),
    # Informal Indonesian (blogs, comments, quotes) that Malay writing does not use.
    **_weighted(2, "nggak enggak gak udah banget gue gw sih dong deh lho bikin"),
    **_weighted(
        1,
        """setelah saja pemerintah perusahaan dukungan mendukung juni juli mobil aja kok ternyata
        dimulai saat teknis modern polisi paham mau kamar rapat terkait pria informasi kemarin
        truk besok ilmuwan pengacara jaringan olahraga""",
    ),
}

# Multi-word markers, matched on lowercase text with whitespace collapsed.
MALAY_PHRASES: dict[str, int] = dict.fromkeys(
    (
        "luar negara",  # abroad; Indonesian luar negeri
        "dalam kalangan",  # among; Indonesian di kalangan
        "amerika syarikat",
        "bola sepak",  # Indonesian sepak bola
        "lapangan terbang",  # airport; Indonesian bandara
        "pilihan raya",  # election; Indonesian pemilihan umum
        "tahun lepas",  # last year; Indonesian tahun lalu
        "minggu lepas",
        "walau bagaimanapun",
        "selain daripada",
        "mengambil kira",  # take into account
        "orang ramai",  # the public
        "laman web",  # website; Indonesian situs
        "dalam talian",  # online; Indonesian daring
        "kemas kini",  # update; Indonesian pembaruan
        "muat turun",  # download; Indonesian unduh
        "sekali gus",  # Indonesian sekaligus
    ),
    2,
)
INDONESIAN_PHRASES: dict[str, int] = dict.fromkeys(
    (
        "amerika serikat",
        "rumah sakit",
        "sepak bola",
        "luar negeri",
        "perangkat lunak",
        "surat kabar",
        "sepeda motor",
        "pemilihan umum",
    ),
    2,
)

# Words that are also common proper names (Wang Yi, Cuba, Dong) count only when written in
# lowercase.
LOWERCASE_ONLY = frozenset({"wang", "cuba", "dong"})

# Currency amounts: ringgit (RM 5, RM5.2 juta) and rupiah (Rp 5.000, Rp5 miliar).
_RINGGIT = re.compile(r"\bRM ?\d")
_RUPIAH = re.compile(r"\bRp\.? ?\d")
_WORD = re.compile(r"[^\W\d_]+")
_SPACES = re.compile(r"\s+")


def _phrase_pattern(phrases: dict[str, int]) -> re.Pattern[str]:
    """One regex matching any of ``phrases`` as whole words."""
    alternatives = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


_MALAY_PHRASE_RE = _phrase_pattern(MALAY_PHRASES)
_INDONESIAN_PHRASE_RE = _phrase_pattern(INDONESIAN_PHRASES)


class MarkerScores(NamedTuple):
    """Summed marker weights found in a text."""

    malay: int
    indonesian: int


def marker_scores(text: str) -> MarkerScores:
    """Sum the Malay and the Indonesian marker weights found in ``text``."""
    malay = 2 * len(_RINGGIT.findall(text))
    indonesian = 2 * len(_RUPIAH.findall(text))
    # Each marker counts once: a repeated word (or ``isteri-isteri``) is one piece of evidence.
    words = {
        t.lower() for t in _WORD.findall(text) if t.islower() or t.lower() not in LOWERCASE_ONLY
    }
    malay += sum(MALAY_WORDS.get(w, 0) for w in words)
    indonesian += sum(INDONESIAN_WORDS.get(w, 0) for w in words)
    lowered = _SPACES.sub(" ", text.lower())
    malay += sum(MALAY_PHRASES[m] for m in set(_MALAY_PHRASE_RE.findall(lowered)))
    indonesian += sum(INDONESIAN_PHRASES[m] for m in set(_INDONESIAN_PHRASE_RE.findall(lowered)))
    return MarkerScores(malay, indonesian)
