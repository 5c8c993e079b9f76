"""Word knowledge for the person recognizer: given names, and common English words.

- **Given names**: ``recognizers/data/given_names.tsv``, the given-name lists of every locale of
  Faker's person providers (MIT; some 30,000 names of 86 locales), copied into the repository
  by ``python -m recognizers.data.build_given_names`` (Faker itself is a development dependency
  only). A name listed by more locales counts as more common (see :func:`_read_given_names`).
- **Surnames**: ``recognizers/data/surnames.tsv``, the surname lists of the same Faker locales
  (MIT; some 25,000), evidence that a capitalised word is a name, never on their own in lower case.
- **Common words**: spaCy's English stop words, plus the WordNet word lists the installed spaCy
  model ships for its rule lemmatizer (verbs, adjectives, adverbs, nouns) with its inflection
  rules and exceptions, so ``calling``, ``helped`` and ``nicer`` are known as words too. A model
  without those tables leaves only the stop words and our short lists below.

A given name that is also a common word (``Will``, ``Grace``, ``Mark``, ``June``) is *ambiguous*:
it counts as a name only when capitalised in mixed-case text or introduced by strong context.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spacy.lang.en.stop_words import STOP_WORDS

from recognizers.types import DetectionError


def _words(text: str) -> list[str]:
    """A word list written as one block of text."""
    return text.split()


#: Nouns that are also given names and common in customer-service chat (the WordNet noun list
#: also holds ``John`` and ``Maria``, so nouns cannot block names wholesale).
_NAME_LIKE_NOUNS = frozenset(
    _words(
        """
        ace ale america ammo angel ant april arcade art asia asset aura autumn baby bee beer belle boy brandy
        bun bunny burg cam candy charity christ cliff co coco colt corona crystal daisy dale dean deli destiny
        diamond dime diva doc door duke duo ear earl easter eden en era eve fairy faith fern gait gal gala gale
        geek gene genesis germ gill glen grad harmony haven heath heather heaven herb hero hi holly honey hunter
        india iris islam ivory ivy jay jeep jetty jasmine juke june justice kale karma king kitty laurel lane
        liberty lily lion lining lorry mac mall manor mania mason maze meadow melody men mike mile miracle mite
        night ninja nissan nova oak ode oh opal panto paris penny pie piety pinkie pinto piper prince princess
        puck quarto rand reed river robin romans rye saga sake santa sherry sky son song stole sunshine taco
        tale talon tea toon trinity tuba tuna uk ufo unity valve van vessel vibe vice viking willow wit wren
        york max min sat sun mon tue wed thu fri jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday
        wednesday thursday friday saturday sunday january february march may july august september october
        november december summer winter spring fall christmas
        """
    )
)

#: Words that follow a name in chat but are not surnames (``this is maria calling``).
_CHAT_FOLLOWERS = frozenset(
    _words(
        """
        order orders account accounts ticket tickets package packages email emails phone number numbers card
        cards team support help plan subscription refund invoice payment address here again today tomorrow
        yesterday tonight now please pls thanks thank thx ty btw lol asap ok okay yes no hi hello hey from at
        with via speaking calling writing texting chatting following regarding re about and or but from the a an
        my your his her our their this that via in on of for to office building store shop branch department app
        website site box item product service bill return delivery shipping street city location area floor room
        desk message chat call line case claim issue problem question request charge fee price discount code
        password login profile membership member customer client user manager supervisor staff guy lady person
        people family kids wife husband mom dad friend friends gonna wanna gotta kinda sorta tryna lemme dunno
        ya u ur pls plz idk tbh omg imo fyi np nvm
        """
    )
)

#: Greetings, sign-offs and titles: never part of a name.
NOT_NAME = frozenset(
    _words(
        """
        hi hello hey dear thanks thank thx ty cheers regards best sincerely kind warm yours bye goodbye mr mrs
        ms mx miss dr prof sir madam mme herr frau sr sra srta dear team all everyone guys folks customer agent
        support service sir madam tel fax ext apt ste dob ssn dl zip iban bic swift usa uk eu id pin otp ref qty
        po eta cvv exp
        """
    )
)


#: Field names of forms, headers and log lines, in the languages we serve: a line label
#: (``Vorname: ...``, ``Reason: ...``, ``Mobile: ...``) that is never a speaker's or a person's name.
FIELD_WORDS = frozenset(
    _words(
        """
        a account achternaam ad addr address adresse age agent amount anrede answer apellido apellidos
        assistant attn bcc bic billing birthday bot card cc city client code cognome comment comments
        company contact country customer date debug department dept desk dob eesnimi efternamn efternavn
        email error etternavn etunimi fax form formular fornavn from fw fwd förnamn gender handy host iban
        id imię info ip jméno job keresztnév kontaktformular land line login mail message mobile msg naam
        nachname name names nationality nazwisko nom nombre nome note notes név occupation office order ort
        password perekonnanimi phone pin plz position postcode price prénom puhelin příjmení q question re
        reason ref role sex shipping sobrenome soyad soyadı stadt state status strasse straße street subject
        sukunimi summary survey swift system team tel telefon telefoon telephone ticket time title to total
        town url user username vezetéknév voornaam vorname warning web website zip επώνυμο όνομα имя
        прізвище фамилия cep kodu indeks index індекс индекс sihtnumber postiindeks postinumero postnummer
        postnr psč plz eircode benutzername benutzer usuario utilisateur utente käyttäjä brugernavn
        användarnamn brukernavn gebruikersnaam użytkownik uživatel felhasználónév
        """
    )
)


#: The given-name and surname data files (source and licence: ``THIRD_PARTY.md``).
GIVEN_NAMES_FILE = "given_names.tsv"
SURNAMES_FILE = "surnames.tsv"


def _read_given_names() -> dict[str, int]:
    """``casefolded given name -> frequency class (4..13)``: a name listed by one Faker locale is
    class 4, each further locale adds 2 (class 6 and up: common as a name somewhere)."""
    return _read_names(GIVEN_NAMES_FILE, "given-name")


def _read_surnames() -> dict[str, int]:
    """``casefolded surname -> frequency class``, as :func:`_read_given_names`."""
    return _read_names(SURNAMES_FILE, "surname")


def _read_names(filename: str, kind: str) -> dict[str, int]:
    try:
        raw = importlib.resources.files("recognizers.data").joinpath(filename).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise DetectionError(f"the {kind} list recognizers/data/{filename} is missing (a broken checkout?)") from exc
    names: dict[str, int] = {}
    for line in raw.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, count = line.partition("\t")
        if len(name) >= 2 and count.isdigit():
            names[name] = min(13, 2 + 2 * int(count))
    return names


class Lexicon:
    """Given names and common words; all look-ups take a lower-cased word."""

    def __init__(
        self,
        given_names: Mapping[str, int],
        word_lists: Mapping[str, Iterable[str]] | None = None,
        exceptions: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        rules: Mapping[str, Sequence[Sequence[str]]] | None = None,
        surnames: Iterable[str] = (),
    ) -> None:
        lists = {pos: frozenset(words) for pos, words in (word_lists or {}).items()}
        self.given = frozenset(given_names)
        self.surnames = frozenset(surnames) - frozenset(STOP_WORDS) - NOT_NAME
        self._freq = dict(given_names)
        self.stop_words = frozenset(STOP_WORDS)
        empty: frozenset[str] = frozenset()
        verbs, adjs, advs = lists.get("verb", empty), lists.get("adj", empty), lists.get("adv", empty)
        nouns = lists.get("noun", empty)
        self._verbs = verbs
        self._lists = lists
        #: never a surname in lower-case text
        self._light = self.stop_words | advs | _CHAT_FOLLOWERS | NOT_NAME
        #: every common word (nouns that are given names excepted)
        self._full = self._light | verbs | adjs | (nouns - self.given) | _NAME_LIKE_NOUNS
        self._nouns = nouns
        self._verb_forms = frozenset((exceptions or {}).get("verb", {})) | frozenset(
            form for pos in ("adj", "noun") for form in (exceptions or {}).get(pos, {})
        )
        self._rules = [(pos, old, new) for pos, pairs in (rules or {}).items() for old, new in pairs if old]
        self.ambiguous = frozenset(
            n for n in self.given if n in self._light or n in verbs or n in adjs or n in _NAME_LIKE_NOUNS
        )

    @classmethod
    def load(cls, lemma_tables: Mapping[str, Any] | None = None) -> Lexicon:
        """Given names from ``recognizers/data/given_names.tsv``; words from a spaCy rule lemmatizer's tables
        (``lemma_index``, ``lemma_exc``, ``lemma_rules``: spaCy ``Table`` s, keyed by POS) when
        given."""
        tables = lemma_tables or {}
        pos = ("noun", "verb", "adj", "adv")
        index, exc, rules = (tables.get(name) for name in ("lemma_index", "lemma_exc", "lemma_rules"))
        word_lists = {p: list(index.get(p) or []) for p in pos} if index is not None else None
        exceptions = {p: dict(exc.get(p) or {}) for p in pos} if exc is not None else None
        rule_lists = {p: list(rules.get(p) or []) for p in pos} if rules is not None else None
        return cls(_read_given_names(), word_lists, exceptions, rule_lists, _read_surnames())

    # ---- look-ups (lower-cased words) -----------------------------------------------------
    @functools.lru_cache(maxsize=16384)  # noqa: B019  (one Lexicon per detector, kept for its life)
    def _inflected(self, word: str) -> bool:
        """An inflected verb, adjective or noun (``calling``, ``helped``, ``nicer``, ``orders``)."""
        if word in self._verb_forms:
            return True
        for pos, old, new in self._rules:
            if not word.endswith(old):
                continue
            base = word[: len(word) - len(old)] + new
            if len(base) < 2 or base not in self._lists.get(pos, ()):
                continue
            if pos == "noun" and base in self.given:
                continue
            if old in ("s", "es", "ies") and word in self.given:
                continue  # James, Agnes
            return True
        return False

    @functools.lru_cache(maxsize=16384)  # noqa: B019
    def _contraction(self, word: str) -> bool:
        """``i'm``, ``don't``, ``maria's`` is a name's possessive: only stop-word contractions."""
        for apo in ("'", "’"):
            if apo in word:
                head, _, tail = word.partition(apo)
                return tail in {"m", "s", "re", "ve", "ll", "d", "t"} and (
                    head in self.stop_words
                    or head
                    in {
                        "i",
                        "don",
                        "can",
                        "won",
                        "isn",
                        "didn",
                        "doesn",
                        "wasn",
                        "aren",
                        "couldn",
                        "wouldn",
                        "shouldn",
                        "haven",
                        "hasn",
                        "let",
                        "that",
                        "it",
                        "what",
                        "there",
                        "here",
                        "who",
                    }
                )
        return False

    def is_light_common(self, word: str) -> bool:
        """A stop word, adverb, inflected verb form or chat word: never the surname after a given
        name in lower-case text (``maria calling``, ``john again``); base-form verbs, adjectives and
        nouns may be (``foster``, ``brown``, ``smith``)."""
        if word in self._light or self._contraction(word):
            return True
        if word in self.given:
            return False
        return self._inflected(word) and word not in self._nouns

    def is_common(self, word: str) -> bool:
        """Any common English word, nouns included (but not the nouns that are given names)."""
        return word in self._full or self._contraction(word) or self._inflected(word)

    def is_given(self, word: str) -> bool:
        """A given name that is no common word: a name in any casing."""
        return word in self.given and word not in self.ambiguous

    def is_popular_given(self, word: str) -> bool:
        """An unambiguous given name that is either no English noun at all or common as a name
        in some country (``maria`` yes, ``tab`` no): a name even with no context."""
        if not self.is_given(word):
            return False
        return word not in self._nouns or self._freq.get(word, 0) >= 6

    def is_surname(self, word: str) -> bool:
        """A surname some Faker locale lists (common words included: ``Baker``, ``Young``)."""
        return word in self.surnames

    def is_noun_only(self, word: str) -> bool:
        """A noun of the word lists that is no verb, adjective, adverb, stop word or inflected
        form: the lists hold many surnames as nouns (``schmidt``, ``newton``, ``baker``)."""
        if word not in self._nouns or word in self._light or self._contraction(word) or self._inflected(word):
            return False
        return word not in self._lists.get("verb", ()) and word not in self._lists.get("adj", ())

    def is_name_word(self, word: str) -> bool:
        """A listed given name or surname."""
        return word in self.surnames or self.is_any_given(word)

    def is_any_given(self, word: str) -> bool:
        """Any given name, ambiguous ones included (``Grace``): a name when capitalised."""
        return word in self.given and word not in self.stop_words and word not in NOT_NAME
