"""PERSON: names in chat, survey answers and log lines, in any casing.

Evidence, strongest first (each finding says which in ``explain``):

1. **Strong context**: ``my name is``, ``name:`` / ``name=``, a title (``Mr.``, ``Dr``): the next
   one to four words are a name unless they are stop words.
2. **Weak context**: greetings and sign-offs (``hi``, ``thanks,``, ``regards``), ``this is``,
   ``I'm``, ``speak to``, ``ask for``, ``my wife`` ...: the next word must look like a name: a
   known given name, or a capitalised word that is no common English word.
3. **Name before a verb**: ``Garcia said``, ``Maria will``, ``Anna here``, ``Bodenmann read``,
   ``Hildiburg and I``.
4. **Name lines**: a line of name words opening an address block (``EINAR MOE`` above a city and
   a street; not a company line before ``Attn:``).
5. **Signatures**: the name on a sign-off's line (``Cheers, Chloris``), on the next line with text
   after it (before a role after ``·`` or ``|``), and the full name after a first name alone.
6. **Structure**: dialogue speaker labels (``Anna: ...``, ``Operator (Celian):``, ``GROSS:``
   repeating a surname, a lower-case speaker labelled twice), vocatives (``Anna, can I ...``,
   ``..., Anna?``, ``Sure, Anna.``), an initial and a surname (``T. Ragosta``), possessives before
   words of a person's life (``Kaja's farewell party``), listed surnames inside a sentence,
   names listed beside a name, and every other mention of a found name's word.
7. **Known given name** followed by a surname-like word (``maria fernanda``, ``Ana Kowalski``), or
   alone when it is no common word; two capitalised words that are no common words.
8. **spaCy NER**: PERSON entities, trimmed of greetings and titles; entities of other labels that
   start with a known given name (the small model often calls a lone name an ORG).

A name found by any rule is extended over the surname that follows (particles such as ``van der``
or ``de la`` included); a name field's value that fills its line is one name (``Customer: Shaw,
Rory``). Every hit is then cut to the name (``tidy``): no possessive ``'s``, no honorific, no
company that owns it, nothing after ``of``/``at``, never over a colon, quote, bracket or line
break, no ``Product/1.2`` token. Companies (``... Pty Ltd``, ``works at X``) and a city before a
state are no person. Common words are never a name on their own unless context says so.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from recognizers.geo import STATE_CODES, alternation
from recognizers.names import FIELD_WORDS, NOT_NAME, Lexicon
from recognizers.places import is_place
from recognizers.types import merge_overlapping

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_STOP_GAP = re.compile(r"[\n\r]|[.!?;:,)(\[\]{}<>|/\\@#=*&+$%0-9]")

_PARTICLES = frozenset(
    [
        "van",
        "von",
        "der",
        "den",
        "de",
        "del",
        "della",
        "dello",
        "degli",
        "di",
        "da",
        "das",
        "dos",
        "du",
        "la",
        "le",
        "lo",
        "bin",
        "binti",
        "ibn",
        "bint",
        "al",
        "el",
        "ben",
        "ter",
        "ten",
        "mac",
        "mc",
        "st",
        "ó",
        "ní",
        "ui",
        "y",
        "e",
    ]
)
_TITLES = (
    r"(?:mr|mrs|ms|mx|miss|dr|prof|sir|madam|madame|mme|mlle|herr|frau|señor|senor|señora|sra|sr|srta|rev|capt|lt)"
)
_TITLE_CONTEXT = re.compile(rf"(?<![\w.])(?P<title>{_TITLES})\.?[ \t]+", re.IGNORECASE)

#: Context after which the next words are a name (unless they are stop words).
_STRONG = re.compile(
    r"(?:\bmy\s+(?:full\s+|first\s+|last\s+|real\s+|legal\s+)?names?\s*(?:is|'s|’s|:|=|-)?|\bname\s+is|\bname's"
    r"|\b(?:i\s+am|i'm|im)\s+called|\bcalls?\s+me|\b(?:the\s+)?(?:account|card)\s*holder(?:'s)?\s*+(?:name)?\s*+(?:is|:|=|-)"
    r"|\bthe\s+name\s+(?:is|on\s+the\s+(?:card|account)\s+is))[ \t]*[\"'“]?",
    re.IGNORECASE,
)
#: ``key: value`` fields whose value is a name (survey forms, log lines).
_FIELD = re.compile(
    r"(?:^|(?<=[\s,;|{(\[\"']))[\"']?(?P<key>(?:full|first|last|given|family|middle|customer|client|contact|user|"
    r"visitor|agent|rep|recipient|patient|employee|guest|sender|holder|account|card|billing|shipping)[ _-]?name"
    r"|name|surname|nombre|apellidos?|vorname|nachname|prénom|nom|nome|cognome|sobrenome|imię|nazwisko|förnamn"
    r"|efternamn|fornavn|etternavn|efternavn|etunimi|sukunimi|jméno|příjmení|soyad[ıi]?|eesnimi|perekonnanimi|имя"
    r"|фамилия|ім['’]я|прізвище|όνομα|επώνυμο|voornaam|achternaam|naam|keresztnév|vezetéknév|név"
    r"|respondent|cardholder|card[ _]holder|account[ _]holder|agent|rep|representative"
    r"|recipient|attn|attention|signed|signature|contact|assignee|owner|requester|submitted[ _]by"
    r"|created[ _]by|approved[ _]by|customer|client|guest|patient|visitor|caller|passenger|traveller|traveler)"
    r"[\"']?\s*(?:\([^)\n]{0,20}\)\s*)?(?::|=|-|–|\t)[ \t]*[\"'“]?",
    re.IGNORECASE | re.MULTILINE,
)
#: Context after which the next word is a name if it looks like one.
_WEAK = re.compile(
    r"(?:\b(?:warm(?:est)?\s+wishes|best\s+wishes|all\s+the\s+best|take\s+care|with\s+thanks|greetings|saludos"
    r"|un\s+saludo|atentamente|cordialement|bien\s+à\s+vous|mit\s+freundlichen\s+grüßen|viele\s+grüße|liebe\s+grüße"
    r"|met\s+vriendelijke\s+groet(?:en)?|groeten|med\s+vänliga\s+hälsningar|hälsningar|mvh|med\s+venlig\s+hilsen"
    r"|hilsen|ystävällisin\s+terveisin|terveisin|s\s+pozdravem|pozdrawiam|z\s+poważaniem|üdvözlettel|saygılarımla"
    r"|distinti\s+saluti|cordiali\s+saluti|saluti|abraços|atenciosamente|cumprimentos|с\s+уважением|з\s+повагою"
    r"|με\s+εκτίμηση|lugupidamisega|tervitades|according\s+to"
    r"|sincerely\s+yours|yours\s+(?:truly|sincerely|faithfully)|kind\s+regards|best\s+regards|warm\s+regards|many\s+thanks|thank\s+you|hi|hello|hey|hiya|dear|thanks|thank\s+you|thx|thnx|ty|tysm|cheers|regards|sincerely|best"
    r"|kind\s+regards|best\s+regards|warm\s+regards|many\s+thanks|love|bye|goodbye|welcome|morning|evening"
    r"|afternoon|yo|respectfully)\b"
    r"(?:\s+(?:so\s+much|again|a\s+lot|very\s+much))?\s*[,!.:;-]*"
    r"|\b(?:this\s+is|it's|it’s|its|it\s+is|i'm|i’m|im|i\s+am|here\s+is|this\s+here\s+is)"
    r"|\b(?:speak|talk|talking|speaking|spoke|spoken|chat|chatted|chatting|talked|ask|asked|asking|transfer|"
    r"transferred|connect|forward|put|send|sent|give|gave|pass|passed|introduce|refer|referred|reach)"
    r"\s+(?:(?:me|it|this|them|him|her|us)\s+)?(?:to|with|for|through\s+to|over\s+to|back\s+to)"
    r"|\b(?:told|tell|contacted|called|emailed|messaged|texted|thank|thanked|met|helped|cc|bcc|attn|with"
    r"|agent|rep|representative|colleague|assistant|manager|supervisor|and)"
    r"|\bmy\s+(?:wife|husband|son|daughter|mom|mum|mother|dad|father|brother|sister|friend|colleague|coworker"
    r"|co-worker|manager|boss|partner|neighbou?r|assistant|grandmother|grandfather|grandma|grandpa|uncle|aunt"
    r"|cousin|fianc[eé]e?|girlfriend|boyfriend|child|kid|roommate|flatmate|landlord|landlady|tenant|supervisor"
    r"|doctor|lawyer|accountant|nephew|niece|stepson|stepdaughter|teacher|spouse|caregiver)(?:'s\s+name\s+is)?"
    r"|\b(?:the\s+)?(?:agent|rep|representative|technician|courier|driver|advisor|adviser|operator|lady|guy|man|"
    r"woman|person|gentleman)\s*(?:named|called|,)"
    r"|\b(?:let|have|tell|ask|remind|cc)(?=\s+\S+(?:\s+\S+){0,3}?\s+(?:know|call|email|contact|check|sign))"
    r"|\b(?:co-?)?(?:founders|partners|authors|members|speakers|winners|attendees|participants|guests|hosts"
    r"|panelists|judges|organi[sz]ers|signatories|owners|directors|present|absent|apologies)\s*:"
    r"|\b(?:special\s+)?thanks\s+(?:go(?:es)?\s+)?to"
    r"|\bnamed|\bcalled|\bon\s+behalf\s+of|\bsigned\s+by|\bunder\s+(?:the\s+name(?:\s+of)?)?"
    r"|\bwho\s+(?:helped|assisted|served|supported)\s+you(?:\s+today)?\s*\??\s*(?:a\s*:)?"
    r"|\b(?:user|customer|client|member|caller|patient|guest|visitor|subscriber|employee)"
    r"|(?:^|\s)[-–—~]{1,2}(?=[ \t]*[^\W\d_][^\n]{0,40}$))"
    r"\s*[,:\-–—]?[ \t]*",
    re.IGNORECASE,
)
#: Matched at the end of each word (never after a blank). The look-behind and the possessive ``*+``
#: keep a run of blanks from being scanned again from each of its positions.
_VERB_AFTER = re.compile(
    r"(?<![ \t])[ \t]*+,?[ \t]*+"
    r"(?:said|says|told|tells|called|calls|mentioned|promised|emailed|wrote|writes|asked|replied|helped"
    r"|answered|explained|confirmed|handled|assured|offered|suggested|agreed|will|would|can|could|is|was|has|had"
    r"|began|begins|started|left|remembers|remembered|thanked|recalled|nodded|smiled|laughed|shouted|whispered"
    r"|decided|returned|moved|grew|lives|lived|studied|worked|retired|married|died|met|meets|read|reads|listed"
    r"|accepted|visited|won|joined|received|became|walked|knocked|loved|visits|wins|knew|thought|felt|smiles"
    r"|here|speaking|again|from\s+(?:the\s+)?\w+|at\s+(?:the\s+)?\w+|and\s+i|&\s+i)\b",
    re.IGNORECASE,
)
#: ``X and I``, ``X & I`` take any name-like word (``today Hildiburg and I``); these need a known given name.
_WEAK_AFTER_VERB = frozenset({"is", "was", "has", "had", "can", "could", "would", "will", "from", "at"})


@dataclass(frozen=True, slots=True)
class _Tok:
    start: int
    end: int
    text: str
    low: str

    @property
    def cap(self) -> bool:
        return self.text[:1].isupper()


#: Endings that make a capitalised word a surname in the languages we serve (Slavic, Nordic,
#: Finnish, Baltic, Greek, Romanian, Turkish, Georgian), for a word no list holds: ``Kovalenko``,
#: ``Dvořáková``, ``Þórbergsdóttir``, ``Virtanen``, ``Papadopoulos``, ``Karaoğlu``.
_SURNAME_ENDING = re.compile(
    r"(?:ová|ská|ský|cká|cký|ski|ska|cki|cka|wicz|vić|vič|ić|ič|enko|chuk|czuk|yuk|iuk|ovich|evich|ovna|evna"
    r"|ov|ova|ev|eva|sson|dóttir|dottir|inen|nen|oğlu|oglu|aitis|aitė|ienė|ytė|opoulos|akis|idis|escu|eanu"
    r"|shvili|dze|ова|ева|ов|ев|енко|ук|юк|ич|ський|ська|ский|ская)$"
)
#: A suffix written after a name: generation, degree, profession (the engine extends every
#: PERSON finding over it: ``Tom Holzman MD``, ``John Smith, Jr.``).
NAME_SUFFIX = re.compile(
    r"(?<![ \t]),?[ \t]++(?:M\.D\.|Ph\.D\.|Jr\.|Sr\.|Esq\.|(?:MD|PhD|Jr|Sr|Esq|DDS|DMD|CPA|MBA|DVM)(?!\w)"
    r"|(?:II|III|IV|RN)(?!\w)(?![ \t]++[a-z]))"  # not ``Maria Lopez IV fluids``
)


#: Name particles written before a surname, with the capitalised given name before them if any
#: (the engine extends a PERSON finding over them: ``Rozemarijn te Boveldt``, ``van de Ridder:``).
PARTICLES_BEFORE = re.compile(
    r"(?:(?:^|(?<=[\s(\"'“]))(?P<given>[A-ZÀ-ÖØ-ÞĀ-ſ][^\W\d_]++[ \t]++)?|(?<=[\s(\"'“]))"
    r"(?:(?:van|von|de|der|den|te|ter|ten|da|di|du|del|della|dos|das|vom|zu|zur|af|av)[ \t]++){1,3}$",
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int
    score: float
    rule: str


class PersonRecognizer(LocalRecognizer):  # type: ignore[misc]
    """Names from context, casing, a given-name dictionary and spaCy's NER (see module doc)."""

    ENTITY = "PERSON"

    def __init__(self, lexicon: Lexicon, ner_labels: frozenset[str] = frozenset({"PERSON", "PER"})) -> None:
        self.lex = lexicon
        self.ner_labels = ner_labels
        #: While on, the rule hits of each text are kept for a second pass over the same text
        #: with spaCy's entities, which then only adds those (the detector turns this on for
        #: one batch at a time and calls ``forget`` after it).
        self.remember = False
        self._rule_hits: dict[str, tuple[_Ctx, list[_Hit]]] = {}
        #: While ``remember`` is on: the word list built by ``suspects``, for ``analyze`` to reuse.
        self._ctxs: dict[str, _Ctx] = {}
        super().__init__(supported_entities=[self.ENTITY], name="PersonRecognizer", supported_language="en")

    def forget(self) -> None:
        self._rule_hits.clear()
        self._ctxs.clear()

    def load(self) -> None:
        return None

    def needs_ner(self, text: str) -> bool:
        """Cheap pre-check: may spaCy's NER find a name in ``text`` that the rules would miss?"""
        return bool(self.suspects(text))

    def suspects(self, text: str) -> list[tuple[int, int]]:
        """The words of ``text`` that could be a name the rules miss (see ``_Ctx.suspects``)."""
        ctx = _context(text, self.lex)
        if self.remember:
            self._ctxs[text] = ctx
        return [(t.start, t.end) for t in ctx.suspects()]

    # ---- entry point ----------------------------------------------------------------------
    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        kept = self._rule_hits.pop(text, None) if self.remember else None
        if kept is not None:
            ctx, hits = kept  # popped: nobody else holds this list
        else:
            cached = self._ctxs.pop(text) if self.remember and text in self._ctxs else None
            ctx = cached if cached is not None else _context(text, self.lex)
            if not ctx.toks:
                return []
            hits = self._rule_hits_of(ctx)
            if self.remember:
                self._rule_hits[text] = (ctx, list(hits))
        doc = getattr(nlp_artifacts, "tokens", None) if nlp_artifacts is not None else None
        if doc is not None:
            hits += ctx.from_ner(doc, self.ner_labels)
        ends = {h.end for h in hits}
        hits = [t for h in hits if ctx.not_a_place(h) and ctx.not_an_org(h, ends) for t in ctx.tidy(h)]
        tails = ctx.signature_tails()
        if tails:  # the role and company lines under a signature's name are no person (a given name and a surname are)
            hits = [
                h
                for h in hits
                if h.rule in _STRONG_RULES
                or ctx.given_and_surname(h)
                or not any(a <= h.start and h.end <= b for a, b in tails)
            ]
        hits += [t for h in ctx.coordinated(hits) for t in ctx.tidy(h)]
        hits += [t for h in ctx.repeated(hits) for t in ctx.tidy(h)]
        return [self._result(h) for h in _best(hits)]

    @staticmethod
    def _rule_hits_of(ctx: _Ctx) -> list[_Hit]:
        hits: list[_Hit] = []
        hits += ctx.after_context(_TITLE_CONTEXT, "strong", 0.85, "title")
        hits += ctx.after_context(_FOREIGN_TITLE, "strong", 0.8, "title (other languages)")
        hits += ctx.after_context(_STRONG, "strong", 0.9, "name is")
        hits += ctx.after_context(_FIELD, "field", 0.85, "name field")
        hits += ctx.after_context(_WEAK, "weak", 0.8, "context")
        hits += ctx.before_verb()
        hits += ctx.name_lines()
        hits += ctx.after_sign_off()
        hits += ctx.given_names()
        hits += ctx.capitalised_pairs()
        hits += ctx.speaker_labels()
        hits += ctx.vocatives()
        hits += ctx.surnames()
        hits += ctx.initial_surnames()
        hits += ctx.possessives()
        return hits

    def _result(self, h: _Hit) -> RecognizerResult:
        explanation = AnalysisExplanation(
            recognizer=self.name, original_score=h.score, pattern_name=h.rule, textual_explanation=f"rule {h.rule}"
        )
        return RecognizerResult(
            entity_type=self.ENTITY,
            start=h.start,
            end=h.end,
            score=h.score,
            analysis_explanation=explanation,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )


def _context(text: str, lex: Lexicon) -> _Ctx:
    toks = [_Tok(m.start(), m.end(), m.group(), m.group().lower()) for m in _WORD.finditer(text)]
    has_upper = any(c.isupper() for c in text)
    has_lower = any(c.islower() for c in text)
    return _Ctx(text, toks, not (has_upper and has_lower), lex)


def _best(hits: list[_Hit]) -> list[_Hit]:
    """Overlapping hits become one span (no part of a name may leak) with the best score."""

    def merge(last: _Hit, h: _Hit) -> _Hit:
        best = last if last.score >= h.score else h
        return _Hit(last.start, max(last.end, h.end), best.score, best.rule)

    return merge_overlapping(hits, lambda h: h.start, lambda h: h.end, merge)


class _Ctx:
    """One text's tokens and the judgements the rules share."""

    def __init__(self, text: str, toks: list[_Tok], caseless: bool, lex: Lexicon) -> None:
        self.text = text
        self.toks = toks
        self.starts = [t.start for t in toks]
        self.caseless = caseless
        self.lex = lex
        self._urls: list[tuple[int, int]] | None = None
        self._sign_offs: list[re.Match[str]] | None = None
        self._tails: list[tuple[int, int]] | None = None

    def sign_offs(self) -> list[re.Match[str]]:
        """The sign-off lines of the text (found once, on first use: the sign-off rule and the
        signature tails both read them, and a second pass over the same text reuses them)."""
        if self._sign_offs is None:
            self._sign_offs = list(_SIGN_OFF.finditer(self.text))
        return self._sign_offs

    def urls(self) -> list[tuple[int, int]]:
        """The spans of the web addresses in the text (found once, on first use)."""
        if self._urls is None:
            has_url = "/" in self.text or "www." in self.text
            self._urls = [u.span() for u in _URL.finditer(self.text)] if has_url else []
        return self._urls

    def suspects(self) -> list[_Tok]:
        """The words on which spaCy's NER could add a name the rules miss: capitalised words that
        are no common English word or are a given name, or, in lower-case and all-caps text, words
        that are a given name or no English word at all (the small model still finds some
        lower-case names). A text without any skips the model."""
        if self.caseless:
            return [t for t in self.toks if self.lex.is_any_given(t.low) or self.unknown_word(t)]
        return [t for t in self.toks if t.cap and (not self.lex.is_common(t.low) or self.lex.is_any_given(t.low))]

    # ---- word judgements ------------------------------------------------------------------
    def capitalised(self, t: _Tok) -> bool:
        return not self.caseless and t.cap and not (t.text.isupper() and len(t.text) > 1)

    def looks_like_name(self, t: _Tok) -> bool:
        """Could start a name after weak context, or stand alone."""
        if len(t.low) < 2 or t.low in NOT_NAME:
            return False
        if self.lex.is_given(t.low):
            return True
        if self.capitalised(t):
            return self.lex.is_any_given(t.low) or not self.lex.is_common(t.low)
        return False

    def unknown_word(self, t: _Tok) -> bool:
        """No common word and no code: in context, probably a name the dictionary lacks."""
        return len(t.low) >= 3 and t.low not in NOT_NAME and not self.lex.is_common(t.low)

    def continues(self, t: _Tok, after_ambiguous: bool = False, lower: bool = False) -> bool:
        """Could be the next word of a name already started (a surname, a second given name).
        ``lower``: the name started with a lower-case word in mixed-case text; then a lower-case
        word continues it only if it is a given name or no English word at all."""
        if t.low in NOT_NAME or len(t.low) < 2:
            return False
        if lower and not t.cap:
            return self.lex.is_given(t.low) or not self.lex.is_common(t.low)
        if after_ambiguous and self.lex.is_common(t.low) and not self.lex.is_given(t.low):
            return False  # ``Grace period``, ``Nest Thermostat``
        if self.caseless:
            return self.lex.is_given(t.low) or not self.lex.is_light_common(t.low)
        if t.cap:
            if t.text.isupper() and len(t.text) <= 3:
                return False  # a state or other code: ``Austin TX``
            return t.low not in self.lex.stop_words and not self._contraction(t)
        return False

    def _contraction(self, t: _Tok) -> bool:
        return ("'" in t.low or "’" in t.low) and self.lex.is_light_common(t.low)

    def gap(self, a: int, b: int) -> str:
        return self.text[a:b]

    def _next_index(self, pos: int) -> int:
        return bisect.bisect_left(self.starts, pos)

    def extend(self, i: int, first_end: int | None = None) -> int:
        """End offset of the name starting at token ``i`` (surname, particles, initials)."""
        end = self.toks[i].end if first_end is None else first_end
        first = self.toks[i].low
        ambiguous = not self.lex.is_given(first) and (self.lex.is_common(first) or first in self.lex.ambiguous)
        #: a name typed in lower case inside mixed-case text (``(ravi lucca edwards)``)
        lower = not self.caseless and not self.toks[i].cap
        j = i + 1
        taken = 1
        while j < len(self.toks) and taken < 4:
            t = self.toks[j]
            between = self.gap(end, t.start)
            if (
                re.fullmatch(r"[ \t]+", between)
                and len(t.text) == 1
                and self.text[t.end : t.end + 1] == "."
                and (t.text.isupper() or self.caseless)
            ):
                end = t.end + 1
                j += 1
                continue
            if (
                re.fullmatch(r"[ \t]", between)
                and len(t.text) == 1
                and t.text.isupper()
                and j + 1 < len(self.toks)
                and self.gap(t.end, self.toks[j + 1].start) == " "
                and self.toks[j + 1].cap
                and (not self.lex.is_common(self.toks[j + 1].low) or self.lex.is_name_word(self.toks[j + 1].low))
            ):
                end = t.end  # a middle initial without its dot: ``Dionna U Mccarthy``
                j += 1
                continue
            if not re.fullmatch(r"[ \t]{1,2}", between):
                break
            if t.low in _PARTICLES and j + 1 < len(self.toks):
                k = j + 1
                if self.toks[k].low in _PARTICLES and k + 1 < len(self.toks):
                    k += 1
                nxt = self.toks[k]
                if re.fullmatch(r"[ \t]{1,2}", self.gap(self.toks[k - 1].end, nxt.start)) and self.continues(nxt):
                    end = nxt.end
                    j = k + 1
                    taken += 1
                    continue
                break
            if not self.continues(t, after_ambiguous=ambiguous and taken == 1, lower=lower):
                break
            end = t.end
            j += 1
            taken += 1
        return end

    # ---- rules ----------------------------------------------------------------------------
    def after_context(self, rx: re.Pattern[str], strength: str, score: float, rule: str) -> list[_Hit]:
        hits = []
        for m in rx.finditer(self.text):
            i = self._next_index(m.end())
            if i >= len(self.toks):
                continue
            t = self.toks[i]
            between = self.gap(m.end(), t.start)
            if strength == "weak":
                if not re.fullmatch(r"[ \t]*(?:[,:\-–—][ \t]*)?(?:\r?\n[ \t]*)?", between):
                    continue
                word = m.group().strip(" \t,:-–—").lower()
                generic = word in {"with", "and", "under"} or word.split()[-1:] in (
                    ["user"], ["customer"], ["client"], ["member"], ["caller"], ["patient"], ["guest"],
                    ["visitor"], ["subscriber"], ["employee"],
                )  # fmt: skip
                if self.lex.is_given(t.low) or (self.capitalised(t) and self.lex.is_any_given(t.low)):
                    s = score
                elif generic:
                    if not (self.capitalised(t) and not self.lex.is_common(t.low)):
                        continue
                    s = score - 0.2
                elif self.looks_like_name(t) or self.unknown_word(t):
                    s = score - 0.2
                else:
                    continue
            else:
                if not re.fullmatch(r"[ \t\"'“]*", between):
                    continue
                if t.low in self.lex.stop_words or t.low in NOT_NAME or len(t.low) < 2 or self._contraction(t):
                    continue
                if rule == "title" and (self._street_abbreviation(m) or (not self.caseless and not t.cap)):
                    continue
                if rule == "title" and m.group("title").lower() == "miss" and self.lex.is_common(t.low):
                    continue  # ``cache miss key``
                if rule == "title (other languages)" and not (
                    t.cap and (not self.lex.is_common(t.low) or self.lex.is_name_word(t.low))
                ):
                    continue  # ``Bay Area``, ``Don Quixote`` is fine, ``Pan Am`` is not a title
                if not self.capitalised(t) and self.lex.is_light_common(t.low) and not self.lex.is_any_given(t.low):
                    continue
                # a field's value in capitals (``FULL NAME: CASTOR MATEUS``) is capitalised too
                cap_like = self.capitalised(t) or (t.text.isupper() and len(t.text) > 1)
                # a value of two to four words that fills its line (``name: abele hurtig``) is a
                # name in any casing, common words or not
                fills = strength == "field" and self._field_value_end(i) > t.end
                if (
                    strength == "field"
                    and not fills
                    and self.lex.is_common(t.low)
                    and not (self.lex.is_any_given(t.low) or cap_like)
                ):
                    continue
                if strength == "field" and not fills and self.lex.is_common(t.low) and not self.lex.is_name_word(t.low):
                    # ``Rep: Sure, ...``: a common word is a name here only before a surname, or
                    # as the whole value of its line (``Vorname: Dulcinea``)
                    nxt = self.toks[i + 1] if i + 1 < len(self.toks) else None
                    alone = _LINE_END.match(self.text, t.end) is not None and not self.lex.is_light_common(t.low)
                    if not alone and (
                        nxt is None
                        or self.gap(t.end, nxt.start) != " "
                        or not (
                            self._name_word(nxt, first=False)
                            or (nxt.text.isupper() and not self.lex.is_common(nxt.low))
                        )
                    ):
                        continue
                s = score
            end = self.extend(i)
            if strength == "field":
                end = max(end, self._field_value_end(i))
            hits.append(_Hit(t.start, end, s, rule))
        return hits

    def _field_value_end(self, i: int) -> int:
        """A name field's value that fills the rest of its line (``Nachname: Pijper an Lammers``,
        ``Customer: Shaw, Rory``, ``FULL NAME: THORGRIM STERNER``): up to four words, none a stop
        word (but particles), a field key or a greeting; else the end of the first word."""
        m = _REST_OF_LINE.match(self.text, self.toks[i].end)
        if m is None:
            return self.toks[i].end
        words = self._words_in(self.toks[i].end, m.end())
        if len(words) > 3 or any(
            (w.low in self.lex.stop_words and w.low not in _PARTICLES and (w is words[-1] or not w.text.islower()))
            or w.low in FIELD_WORDS
            or w.low in NOT_NAME
            for w in words
        ):
            return self.toks[i].end
        return words[-1].end if words else self.toks[i].end

    def _street_abbreviation(self, m: re.Match[str]) -> bool:
        """``Dr`` / ``St`` after a house number and a street name is a street suffix, not a title."""
        if m.group("title").lower() not in {"dr", "st"}:
            return False
        before = self.text[max(0, m.start() - 40) : m.start()]
        return bool(re.search(r"(?<!\d)\d+[a-z]?\s+(?:[\w'.-]+\s+){1,4}$", before, re.IGNORECASE))

    def before_verb(self) -> list[_Hit]:
        hits = []
        for i, t in enumerate(self.toks):
            m = _VERB_AFTER.match(self.text, t.end)
            if not m:
                continue
            # the name may be two words: take the first of them
            j = i
            if i > 0 and re.fullmatch(r"[ \t]{1,2}", self.gap(self.toks[i - 1].end, t.start)):
                prev = self.toks[i - 1]
                if self.looks_like_name(prev) and self.continues(t):
                    j = i - 1
            first = self.toks[j]
            verb = m.group().strip(" \t,").split()[0].lower()
            if verb in _WEAK_AFTER_VERB or verb in {"here", "speaking", "again"}:
                ok = self.lex.is_given(first.low) or (
                    self.capitalised(first) and self.lex.is_any_given(first.low) and not self.lex.is_common(first.low)
                )
                if verb in {"here", "speaking"}:
                    ok = ok or (self.capitalised(first) and not self.lex.is_common(first.low))
                    ok = ok or (self._sentence_start(first) and self.unknown_word(first))
            else:
                ok = self.looks_like_name(first) or (self._sentence_start(first) and self.unknown_word(first))
            if not ok or first.low in NOT_NAME:
                continue
            if j > 0 and self.toks[j - 1].low in {"the", "a", "an", "your", "my", "our", "this", "that", "his", "her"}:
                continue
            hits.append(_Hit(first.start, t.end, 0.7, "name before verb"))
        return hits

    def _sentence_start(self, t: _Tok) -> bool:
        # walks back over the blanks and quotes only (no copy of the text before ``t``)
        i = t.start
        while i > 0 and self.text[i - 1] in " \t\"'":
            i -= 1
        return i == 0 or self.text[i - 1] in ".!?\n:-"

    def name_lines(self) -> list[_Hit]:
        """A line holding only a name: the first line of an address block, a signature; and
        ``Name Surname, 12 Some Street`` at the start of a one-line address."""
        hits = []
        offset = 0
        lines = self.text.split("\n")
        for n, line in enumerate(lines):
            words = self.toks[self._next_index(offset) : self._next_index(offset + len(line))]
            stripped = line.strip(" \t-–—,")
            lead = _LINE_NAME.fullmatch(stripped) if stripped else None
            if lead and words and len(words) <= 5 and len(lines) > 1:
                nxt = lines[n + 1].strip() if n + 1 < len(lines) else ""
                prev = lines[n - 1].rstrip() if n > 0 else ""
                block_start = n == 0 or not prev.strip() or prev.endswith(":")
                # the first line of a block whose next line starts with a number, or whose next
                # lines (up to four) hold a house number or a postcode
                opens_address = block_start and (
                    bool(re.match(r"\d", nxt)) or any(_NUMBER_IN_LINE.search(x) for x in lines[n + 1 : n + 5])
                )
                after = lines[n + 2].strip() if n + 2 < len(lines) else ""
                if _FOR_ATTENTION.match(nxt) or (
                    not re.match(r"\d", nxt) and _LINE_NAME.fullmatch(nxt) and re.match(r"\d", after)
                ):
                    opens_address = False  # a company's line, then ``Attn: Name`` or the person's line
                head = words[0]
                upper_line = all(w.text.isupper() for w in words)  # ``EINAR MOE``
                rest_ok = all(
                    self.continues(w)
                    or w.low in _PARTICLES
                    or (upper_line and len(w.low) >= 2 and w.low not in NOT_NAME and w.low not in self.lex.stop_words)
                    for w in words[1:]
                )
                if (
                    opens_address
                    and len(words) >= 2
                    and rest_ok
                    and (self.looks_like_name(head) or self.unknown_word(head) or self._two_word_name(words))
                ):
                    hits.append(_Hit(head.start, words[-1].end, 0.75, "name line"))
            offset += len(line) + 1
        for found in _NAME_THEN_STREET.finditer(self.text):
            words = self._words_in(found.start("name"), found.end("name"))
            rest_ok = all(w.low not in self.lex.stop_words and w.low not in NOT_NAME for w in words[1:])
            if not (2 <= len(words) <= 4 and rest_ok) or is_place(" ".join(w.low for w in words)):
                continue
            if self._name_word(words[0]) or self.unknown_word(words[0]) or self._two_word_name(words):
                hits.append(_Hit(words[0].start, words[-1].end, 0.7, "name before address"))
        m = _ONE_LINE_ADDRESS.match(self.text)
        if m:
            words = [t for t in self.toks if m.start("name") <= t.start < m.end("name")]
            head_ok = 2 <= len(words) <= 4 and (self.looks_like_name(words[0]) or self.unknown_word(words[0]))
            if head_ok and all(self.continues(w) or w.low in _PARTICLES for w in words[1:]):
                hits.append(_Hit(words[0].start, words[-1].end, 0.75, "name before address"))
        return hits

    def after_sign_off(self) -> list[_Hit]:
        """The name a message is signed with: on the sign-off's line (``Cheers, Chloris``) and on
        the first line with text after it (``Kind regards\n\nMarceau Teixeira\nvisiteur``; before
        a role: ``Chloris Z Hauer · sekretär``), and the full name on the next line after a first
        name alone (``Warm wishes,\nWilma\n\nWilma Koehler | arzt``)."""
        hits: list[_Hit] = []
        for m in self.sign_offs():
            same_line = self._name_part(m.start("rest"), m.end("rest"), whole=True)
            if same_line is not None:
                hits.append(_Hit(same_line[0], same_line[1], 0.75, "name after a sign-off"))
            pos = m.end()
            first_word = ""
            for _ in range(2):
                while pos > 0 and self.text[pos - 1] in " \t":
                    pos -= 1  # the match below starts where no blank precedes
                nxt = _NEXT_TEXT_LINE.match(self.text, pos)
                if nxt is None:
                    break
                part = self._name_part(nxt.start("line"), nxt.end("line"), whole=False)
                if part is None:
                    break
                words = self._words_in(*part)
                if first_word and words[0].low != first_word:
                    break
                hits.append(_Hit(part[0], part[1], 0.75, "name after a sign-off"))
                if len(words) > 1 or first_word:
                    break
                first_word = words[0].low  # ``Wilma`` alone: the next line may hold the full name
                pos = nxt.end()
        return hits

    def given_and_surname(self, h: _Hit) -> bool:
        """Two or more words, the first a listed given name (``Mark Wilson``, ``Jane Doe``)."""
        words = self._words_in(h.start, h.end)
        return len(words) > 1 and self.lex.is_any_given(words[0].low)

    def signature_tails(self) -> list[tuple[int, int]]:
        """The lines under a signature's name (``Kind regards\\n\\nDagbjörg Þórbergsdóttir\\narkitekt\\n
        Vátryggingafélag Íslands``): up to three lines after the name line, each up to a role
        separator (``Van Hool · 70 Gebroeders ...``), that hold no digit or ``@``: roles and
        companies. The name line is the sign-off's own rest when it has text, else the first line
        after it. Found once per text (the NER pass reuses the rule pass's context)."""
        if self._tails is not None:
            return self._tails
        out: list[tuple[int, int]] = []
        for m in self.sign_offs():
            lines: list[tuple[int, int]] = []
            pos = m.end()
            for _ in range(4):
                while pos > 0 and self.text[pos - 1] in " \t":
                    pos -= 1
                nxt = _NEXT_TEXT_LINE.match(self.text, pos)
                if nxt is None or not nxt.group("line").strip():
                    break
                lines.append(nxt.span("line"))
                pos = nxt.end()
            # a sign-off line: the sign-off alone (``Kind regards``) or with the name (``Cheers,
            # Chloris``); not ``Thanks for the update.`` or ``Lovely to meet you``
            after_word = self.text[m.start("rest") - 1 : m.start("rest")] if m.start("rest") > 0 else ""
            rest = m.group("rest").strip()
            if after_word.isalpha() and rest:
                continue  # ``Lovely``: no sign-off word
            if rest and self._name_part(m.start("rest"), m.end("rest"), whole=True) is None:
                continue
            if not rest and not lines:
                continue
            # the name line must hold a name (``Regards`` / ``Team Lead`` / ``Maria Garcia``: no tails)
            if not rest and self._name_part(lines[0][0], lines[0][1], whole=False) is None:
                continue
            first = (rest or self.text[lines[0][0] : lines[0][1]]).split()[0].casefold()
            tail = [
                (a, b)
                for a, b in lines[0 if rest else 1 :]
                if self.text[a:b].split()[0].casefold() != first  # ``Chloris`` then ``Chloris Z Hauer · ...``
            ]
            for a, b in tail[:3]:
                cut = _ROLE_SEPARATOR.search(self.text, a, b)
                if cut is not None and self.text[cut.start() : cut.end()].strip() in ("·", "|", "•"):
                    b = cut.start()
                if not re.search(r"[\d@]", self.text[a:b]):
                    out.append((a, b))
        self._tails = out
        return out

    def _name_part(self, start: int, end: int, whole: bool) -> tuple[int, int] | None:
        """The name that a signature line starts with (up to a separator and a role, unless
        ``whole``): one to four words, capitalised, none a field key, stop word or greeting; a
        common word only in a name of capitalised words alone on its line."""
        line = self.text[start:end]
        cut = _ROLE_SEPARATOR.search(line)
        if cut is not None:
            if whole:
                return None
            end = start + cut.start()
        words = self._words_in(start, end)
        if (
            not words
            or len(words) > 4
            or self.text[start:end].strip(" \t,.!") != self.text[words[0].start : words[-1].end]
        ):
            return None
        for w in words:
            if w.low in NOT_NAME or w.low in FIELD_WORDS:
                return None
            if w.low in self.lex.stop_words and w.low not in _PARTICLES and not self.lex.is_any_given(w.low):
                return None  # ``The Support Team``; not a listed given name that is a stop word too
            if not (self.capitalised(w) or w.text.isupper() or self.caseless or w.low in _PARTICLES):
                return None
        if len(words) > 1 and len(words[-1].text) == 1:
            return None  # ``Best, J`` is fine below; ``Team A`` is no name
        common = all(self.lex.is_common(w.low) and not self.lex.is_name_word(w.low) for w in words)
        if common and (cut is not None or len(words) > 2):
            return None
        return words[0].start, words[-1].end

    def given_names(self) -> list[_Hit]:
        hits = []
        for i, t in enumerate(self.toks):
            if len(t.low) < 2 or t.low in NOT_NAME:
                continue
            strong_given = self.lex.is_given(t.low)
            cap_given = self.capitalised(t) and self.lex.is_any_given(t.low)
            if not (strong_given or cap_given):
                continue
            end = self.extend(i)
            if end > t.end:
                hits.append(_Hit(t.start, end, 0.7, "given name + surname"))
            elif self.lex.is_popular_given(t.low) and (self.capitalised(t) or self.caseless) and len(t.low) >= 3:
                if i > 0 and self.toks[i - 1].low in {"in", "near", "at", "the", "a", "an", "my", "your", "our"}:
                    continue  # ``in Austin``, ``the Alexa``
                if is_place(t.low):
                    continue  # ``flights to Jordan``, ``London, Paris``: a country or a big city
                hits.append(_Hit(t.start, t.end, 0.55, "given name"))
        return hits

    def capitalised_pairs(self) -> list[_Hit]:
        """Two capitalised words in a row, neither a common word nor a code: ``Radika Payne``."""
        hits = []
        for i in range(len(self.toks) - 1):
            a, b = self.toks[i], self.toks[i + 1]
            if not (self.capitalised(a) and self.capitalised(b)):
                continue
            if not re.fullmatch(r"[ \t]{1,2}", self.gap(a.end, b.start)):
                continue
            if min(len(a.low), len(b.low)) < 2 or a.low in NOT_NAME or b.low in NOT_NAME:
                continue
            if a.low in self.lex.stop_words or b.low in self.lex.stop_words:
                continue
            # a common word may be part of the pair when it is listed as a name in its place
            # (``Heath Newton``, ``Grace Baker``), never both words merely common
            a_ok = not self.lex.is_common(a.low) or self.lex.is_any_given(a.low)
            b_ok = not self.lex.is_common(b.low) or self.lex.is_surname(b.low)
            if not (a_ok and b_ok) or (self.lex.is_common(a.low) and self.lex.is_common(b.low)):
                continue
            hits.append(_Hit(a.start, self.extend(i + 1, b.end), 0.6, "capitalised pair"))
        return hits

    def _name_word(self, t: _Tok, first: bool = True) -> bool:
        """Capitalised (or in caseless text), no stop word, and either no common word or a listed
        given name (or, after the first word, a listed surname: ``Grace Baker``)."""
        if len(t.low) < 2 or t.low in NOT_NAME or t.low in self.lex.stop_words or self._contraction(t):
            return False
        if not (self.capitalised(t) or self.caseless):
            return False
        if not self.lex.is_common(t.low) or self.lex.is_any_given(t.low):
            return True
        return not first and self.lex.is_surname(t.low)

    def _name_words(self, words: list[_Tok]) -> bool:
        return (
            bool(words)
            and self._name_word(words[0])
            and all(self._name_word(w, first=False) or w.low in _PARTICLES for w in words[1:])
        )

    def _words_in(self, start: int, end: int) -> list[_Tok]:
        return self.toks[self._next_index(start) : self._next_index(end)]

    def speaker_labels(self) -> list[_Hit]:
        """A dialogue line's speaker: ``Elsa: "Who are you?"``, ``Tom Berg: sure``, at a line's start
        (after ``>`` quote marks): one to three name words and a colon, then text."""
        hits = []
        labels = list(_SPEAKER.finditer(self.text))
        label_count = Counter(m.group("name").casefold() for m in labels)
        seconds: set[str] | None = None  # second words of capitalised pairs (``Emirhan Gross``)
        for m in labels:
            words = self._words_in(m.start("name"), m.end("name"))
            if not words or any(w.low in FIELD_WORDS for w in words):
                continue  # ``Vorname: ...``, ``Reason: ...``
            if len(words) == 1 and words[0].text.isupper() and len(words[0].text) > 1:
                # ``INFO: ...`` is no name; ``GROSS:`` after ``Emirhan Gross`` is
                if seconds is None:
                    seconds = {x.group("second").casefold() for x in _SECOND_NAME_WORD.finditer(self.text)}
                if words[0].low not in seconds:
                    continue
                hits.append(_Hit(words[0].start, words[0].end, 0.7, "speaker label"))
                continue
            lower_speaker = (
                len(words) == 1
                and words[0].text.islower()
                and label_count[words[0].low] >= 2
                and words[0].low not in NOT_NAME
                and words[0].low not in self.lex.stop_words
                and (self.lex.is_given(words[0].low) or not self.lex.is_light_common(words[0].low))
            )  # ``moder: yeah whats up`` twice in a chat typed in lower case
            if not lower_speaker and not self._name_words(words) and not self._two_word_name(words):
                continue
            hits.append(_Hit(words[0].start, words[-1].end, 0.7, "speaker label"))
        for m in _ROLE_SPEAKER.finditer(self.text):
            g = "name" if m.group("name") is not None else "name2"
            words = self._words_in(m.start(g), m.end(g))
            if any(w.low in FIELD_WORDS for w in words):
                continue
            if words and (self._name_words(words) or self._two_word_name(words)):
                hits.append(_Hit(words[0].start, words[-1].end, 0.7, "speaker label"))
        return hits

    def _two_word_name(self, words: list[_Tok]) -> bool:
        """``Castor Mateus``: two or three capitalised words, no stop word or field key, one of
        them no common word."""
        if not 2 <= len(words) <= 3 or not all(self.capitalised(w) or self.caseless for w in words):
            return False
        if any(w.low in self.lex.stop_words or w.low in NOT_NAME or len(w.low) < 2 for w in words):
            return False
        return any(not self.lex.is_common(w.low) for w in words)

    def initial_surnames(self) -> list[_Hit]:
        """``T. Ragosta``, ``A. Horváth``: an initial with its dot, then a capitalised word that
        is no common word (or a listed surname)."""
        hits = []
        for m in _INITIAL.finditer(self.text):
            i = self._next_index(m.end())
            if i >= len(self.toks) or self.toks[i].start != m.end():
                continue
            t = self.toks[i]
            if not self.capitalised(t) or t.low in NOT_NAME or t.low in self.lex.stop_words:
                continue
            if self.lex.is_common(t.low) and not self.lex.is_name_word(t.low):
                continue
            hits.append(_Hit(m.start(), self.extend(i), 0.65, "initial and surname"))
        return hits

    def possessives(self) -> list[_Hit]:
        """``Kaja's farewell party``, ``at Orosco's funeral``: a capitalised word that is no
        common word, possessive, before a word of a person's life."""
        hits = []
        for m in _POSSESSIVE.finditer(self.text):
            i = self._next_index(m.start("name"))
            if i >= len(self.toks):
                continue
            t = self.toks[i]
            if t.low in NOT_NAME or is_place(t.low) or (self.lex.is_common(t.low) and not self.lex.is_name_word(t.low)):
                continue
            hits.append(_Hit(t.start, m.end("name"), 0.6, "possessive"))
        return hits

    def repeated(self, hits: list[_Hit]) -> list[_Hit]:
        """Every other mention of a word of a name found in the same text (``... T. Ragosta ...
        Ragosta's co-author``, ``PORTA:`` after ``Alphons Porta``), in any casing; only words
        that are no common word (or a listed surname the word lists hold as a noun only)."""
        words: set[str] = set()
        covered: list[tuple[int, int]] = []
        for h in hits:
            covered.append((h.start, h.end))
            for w in self._words_in(h.start, h.end):
                if len(w.low) < 3 or w.low in NOT_NAME or w.low in FIELD_WORDS or w.low in self.lex.stop_words:
                    continue
                if not self.lex.is_common(w.low) or (self.lex.is_surname(w.low) and self.lex.is_noun_only(w.low)):
                    words.add(w.low)
        if not words:
            return []
        out = []
        for i, t in enumerate(self.toks):
            if t.low in words and not any(s <= t.start and t.end <= e for s, e in covered):
                start = t.start
                prev = self.toks[i - 1] if i > 0 else None
                if (
                    prev is not None
                    and self.gap(prev.end, t.start) == " "
                    and self._name_word(prev)
                    and not any(s <= prev.start and prev.end <= e for s, e in covered)
                ):
                    start = prev.start  # ``guest is Dia Balzary`` after ``BALZARY:``: the given name too
                out.append(_Hit(start, self.extend(i), 0.6, "name repeated"))
        return out

    def vocatives(self) -> list[_Hit]:
        """A name addressed at a message's or sentence's start (``Lucas, can I ...``) or end
        (``..., can you help, Maria?``)."""
        hits = []
        for rx in (_VOCATIVE_START, _VOCATIVE_END, _VOCATIVE_INTERJECTION):
            for m in rx.finditer(self.text):
                line_start = self.text.rfind("\n", 0, m.start()) + 1
                if rx is _VOCATIVE_END and _title_case(self.text[line_start : m.start()]):
                    continue  # ``Head of Operations, Zwack``: a job title, then a company
                words = self._words_in(m.start("name"), m.end("name"))
                if self._name_words(words) and not is_place(" ".join(w.low for w in words)):
                    hits.append(_Hit(words[0].start, words[-1].end, 0.6, "vocative"))
        return hits

    def surnames(self) -> list[_Hit]:
        """A capitalised listed surname that is no common English word, alone (``starring
        Schmidt``, ``ex-Zombie Novak``)."""
        hits: list[_Hit] = []
        if self.caseless:
            return hits
        for i, t in enumerate(self.toks):
            if len(t.low) < 3 or not self.capitalised(t):
                continue
            shaped = not self.lex.is_surname(t.low) and _SURNAME_ENDING.search(t.low) is not None
            if not (self.lex.is_surname(t.low) or shaped) or (shaped and (len(t.low) < 5 or self.lex.is_common(t.low))):
                continue
            if t.low in NOT_NAME or is_place(t.low):
                continue
            if i > 0 and self.toks[i - 1].low in _NOT_BEFORE_SURNAME:
                continue  # ``in Novak`` is a place, ``the Hilton`` a hotel
            if self.lex.is_common(t.low):
                # a surname the word lists hold as a noun (``starring Schmidt``): only inside a
                # sentence, and not the head of a longer proper name (``Baker Street``)
                if not self.lex.is_noun_only(t.low) or self._sentence_start(t):
                    continue
                if i + 1 < len(self.toks) and self.capitalised(self.toks[i + 1]):
                    continue
            hits.append(_Hit(t.start, self.extend(i), 0.5, "surname by its ending" if shaped else "listed surname"))
        return hits

    def coordinated(self, hits: list[_Hit]) -> list[_Hit]:
        """Names listed beside a name: ``Ivan, Pippa, Noëlle and Nelson`` (each list item of one to
        three name words, joined by commas, ``and``, ``or``, ``&``), once one item is a name."""
        if not hits:
            return []
        found = {(h.start, h.end) for h in hits}
        out: list[_Hit] = []
        todo = sorted(found)
        seen_starts = {s for s, _ in found}
        while todo:
            start, end = todo.pop()
            for nxt in self._list_neighbours(start, end):
                if nxt[0] in seen_starts:
                    continue
                seen_starts.add(nxt[0])
                out.append(_Hit(nxt[0], nxt[1], 0.55, "list of names"))
                todo.append(nxt)
        return out

    def _list_neighbours(self, start: int, end: int) -> list[tuple[int, int]]:
        got = []
        m = _LIST_NEXT.match(self.text, end)
        if m:
            i = self._next_index(m.end())
            if i < len(self.toks) and self.toks[i].start == m.end() and self._name_word(self.toks[i]):
                j_end = self.extend(i)
                if not is_place(self.text[self.toks[i].start : j_end]):
                    got.append((self.toks[i].start, j_end))
        m = _LIST_PREV.search(self.text, max(0, start - 48), start)
        if m and m.end() == start:
            words = self._words_in(m.start("item"), m.end("item"))
            if self._name_words(words) and not is_place(" ".join(w.low for w in words)):
                got.append((words[0].start, words[-1].end))
        return got

    def tidy(self, h: _Hit) -> list[_Hit]:
        """The name inside a hit, without what is no name: a possessive ``'s`` at its end; what a
        possessive inside it owns (``Bamix's Frederick Tognola`` is ``Frederick Tognola``); an
        honorific before it (``Signora``, ``Профессор``: not the person); a unit or street word
        after it; ``of ...`` after it; and no name runs over a colon, a quote, a bracket, a bar
        or a line break (``Arnhildur:"I'm Hásteinn's``: two names)."""
        words = self._words_in(h.start, h.end)
        if not words:
            return [h]
        if any(a <= w.start < b for w in words for a, b in self.urls()):
            return []  # ``w. https://reason.museum.post/``: a web address, no name
        groups: list[list[_Tok]] = [[]]
        dropping = False  # after ``of``, ``at`` ...: a company or a place, not the name
        for w in words:
            if groups[-1] and _NAME_BREAK.search(self.gap(groups[-1][-1].end, w.start)):
                groups.append([])
                dropping = False
            if w.text in _LOWER_BREAK:
                groups.append([])
                dropping = w.text not in {"and", "or"}
                continue
            if dropping:
                continue
            groups[-1].append(w)
            if w.low.endswith(("'s", "’s")) and w is not words[-1] and _POSSESSIVE_ONLY.match(self.text, w.end):
                nxt = words[words.index(w) + 1]
                owner = {x.low.removesuffix("'s").removesuffix("’s") for x in groups[-1]}
                if self.lex.is_any_given(nxt.low) or not self.lex.is_common(nxt.low) or owner & _ORG_WORDS:
                    groups[-1] = []  # ``Traubi's Fédra Bollobás``: the owner is a company
                else:
                    groups.append([])  # ``Lavdim Knecht's Cautionary Tales``: what a person owns
                    dropping = True
        out = []
        for g in groups:
            while len(g) > 1 and g[0].low.rstrip(".") in _HONORIFICS:
                g = g[1:]
            while len(g) > 1 and g[-1].low in _TRAILING_NOT_NAME:
                g = g[:-1]
            while g and (self._contraction(g[0]) or (g[0].low in self.lex.stop_words and g[0].text == g[0].low)):
                g = g[1:]
            if not g or all(w.low.rstrip(".") in _HONORIFICS or w.low in NOT_NAME for w in g):
                continue
            if _PRODUCT_VERSION.match(self.text, g[-1].end):
                continue  # ``Safari/537.36``: a product and its version in a user agent
            start = g[0].start
            end = h.end if g[-1] is words[-1] else g[-1].end
            if g[-1].low.endswith(("'s", "’s")):
                end = min(end, g[-1].end - 2)
            if end > start:
                out.append(_Hit(start, end, h.score, h.rule))
        return out

    def not_an_org(self, h: _Hit, name_ends: set[int]) -> bool:
        """``Hansen Yuncken Pty Ltd``, ``Dreher Brewery``, ``Leonhard Nilsen & Sønner``: a company
        or an ensemble named after people is no person; nor is what follows ``<name> of`` /
        ``<name> from`` or ``work for`` / ``according to the``, unless it starts with a given name
        (strong context keeps its name)."""
        if h.rule in _STRONG_RULES:
            return True
        words = self._words_in(h.start, h.end)
        if not words or any(w.low in _ORG_WORDS for w in words):
            return False
        if _ORG_AFTER.match(self.text, h.end) is not None:
            return False
        line_start = self.text.rfind("\n", 0, h.start) + 1
        lead = self.text[line_start : h.start].rstrip(" \t")
        if lead.endswith(",") and _title_case(lead[:-1]):
            return False  # ``Head of Sales, Reginn``: a job title, then the company
        if self.lex.is_any_given(words[0].low):
            return True
        before = self.text[max(0, h.start - 40) : h.start]
        m = _AFTER_NAME_OF.search(before)
        if m and (h.start - len(before) + m.start()) in name_ends:
            return False
        return _ORG_CONTEXT.search(before) is None

    def from_ner(self, doc: Any, labels: frozenset[str]) -> list[_Hit]:
        hits = []
        for ent in getattr(doc, "ents", ()):
            words = self.toks[self._next_index(ent.start_char) : self._next_index(ent.end_char)]
            words = self._trim(words)
            for k in range(1, len(words)):
                if "\n" in self.gap(words[k - 1].end, words[k].start):
                    words = words[:k]  # a name never runs over a line break
                    break
            if not words or any(c.isdigit() for c in ent.text):
                continue
            if ent.label_ in labels:
                if all(self._common_word(w) and not self.lex.is_any_given(w.low) for w in words):
                    continue  # ``print hello-world``: common words (a hyphenated pair of them too)
                if (
                    not self.caseless
                    and not any(w.cap for w in words)
                    and not any(self.lex.is_name_word(w.low) for w in words)
                ):
                    continue  # ``менеджер торгового зала``: a role in lower case in mixed-case text
                if len(words) == 1:
                    w = words[0]
                    if not self.capitalised(w) or (self.lex.is_common(w.low) and not self.lex.is_given(w.low)):
                        continue
                end = self.extend(self._next_index(words[-1].start), words[-1].end)
                hits.append(_Hit(words[0].start, end, 0.85, f"spaCy {ent.label_}"))
            elif ent.label_ in {"ORG", "GPE", "NORP", "PRODUCT", "FAC", "LOC", "WORK_OF_ART", "EVENT"}:
                first = words[0]
                if (
                    self.lex.is_given(first.low)
                    and all(self.capitalised(w) for w in words)
                    and len(words) <= 3
                    and (len(words) > 1 or ent.label_ != "GPE")
                ):
                    hits.append(_Hit(first.start, words[-1].end, 0.6, f"spaCy {ent.label_} given name"))
        return hits

    def _common_word(self, w: _Tok) -> bool:
        if self.lex.is_common(w.low):
            return True
        parts = re.split(r"[-‐]", w.low)
        return len(parts) > 1 and all(p and self.lex.is_common(p) for p in parts)

    def _trim(self, words: list[_Tok]) -> list[_Tok]:
        def skip(w: _Tok) -> bool:
            return w.low in NOT_NAME or w.low in FIELD_WORDS or w.low in self.lex.stop_words or self._contraction(w)

        while words and skip(words[0]):
            words = words[1:]
        while words and skip(words[-1]):
            words = words[:-1]
        return words

    def not_a_place(self, h: _Hit) -> bool:
        """``Austin, TX 78701``, ``Madison WI``: a city before a state is no person (unless strong
        context says it is: ``Attn: Hahn De``)."""
        if h.rule in _STRONG_RULES:
            return True
        if _CITY_STATE.match(self.text, h.end):
            return False
        m = _ENDS_WITH_STATE.search(self.text, h.start, h.end)
        return not (m and _CITY_STATE.match(self.text, m.start()))


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NOT_BEFORE_SURNAME = _wordset(
    "in near at the a an from to via this that these those my your our his her their its some any no every"
)
#: What a name never runs over: a colon, a quote, a bracket, a bar, a middle dot, a line break.
_NAME_BREAK = re.compile(r"[:\"“”«»()\[\]|·•/\n]")
_SIGN_OFFS = (
    r"warm(?:est)?\s+wishes|best\s+wishes|all\s+the\s+best|take\s+care|with\s+thanks|greetings|saludos"
    r"|un\s+saludo|atentamente|cordialement|bien\s+à\s+vous|mit\s+freundlichen\s+grüßen|freundliche\s+grüße"
    r"|viele\s+grüße|liebe\s+grüße|beste\s+grüße|met\s+vriendelijke\s+groet(?:en)?|groeten|med\s+vänliga\s+hälsningar"
    r"|hälsningar|mvh|med\s+venlig\s+hilsen|hilsen|ystävällisin\s+terveisin|terveisin|s\s+pozdravem|pozdrawiam"
    r"|z\s+poważaniem|üdvözlettel|saygılarımla|distinti\s+saluti|cordiali\s+saluti|saluti|abraços|atenciosamente"
    r"|cumprimentos|с\s+уважением|з\s+повагою|με\s+εκτίμηση|lugupidamisega|tervitades|sincerely(?:\s+yours)?"
    r"|yours\s+(?:truly|sincerely|faithfully)|(?:kind|best|warm|warmest)\s+regards|regards|many\s+thanks|thanks"
    r"|thank\s+you|cheers|best|love|respectfully|bye|ciao|salut|tschüss|mfg|lg|vg"
)
#: A sign-off line (two sign-offs joined by a slash too), then maybe a name on the same line.
_SIGN_OFF = re.compile(
    rf"^[ \t>]*+(?i:{_SIGN_OFFS})(?:[ \t]*+/[ \t]*+(?i:{_SIGN_OFFS}))?[ \t]*+[,!.:;–—-]*+[ \t]*+(?P<rest>[^\n]*)$",
    re.MULTILINE,
)
#: The next line with text (blank lines skipped).
_NEXT_TEXT_LINE = re.compile(r"(?<![ \t])(?:[ \t]*+\r?\n){1,3}[ \t>]*+(?P<line>[^\n]*+)")
#: What ends the name on a signature line: ``Name · role``, ``Name | firm``, ``Name - role``, ``Name, role``.
_ROLE_SEPARATOR = re.compile(r"(?<![ \t])[ \t]*+(?:[·|•,/(]|[–—-](?=[ \t])|[ \t]-[ \t])")
#: A house number or a postcode in a line of an address block.
_NUMBER_IN_LINE = re.compile(r"(?<![\w.,:/+-])\d{1,6}[a-zA-Z]?(?![\w.,:/-]|\.\d)")
_SECOND_NAME_WORD = re.compile(
    r"(?<![\w'’-])[A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁЄІЇҐΑ-Ω][^\W\d_]++[ \t]++(?P<second>[A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁЄІЇҐΑ-Ω][^\W\d_]++)"
)
_FOR_ATTENTION = re.compile(
    r"(?i:attn|attention|c/o|care[ \t]+of|z\.[ \t]?h(?:d)?\.|z\.[ \t]?hd\.|à[ \t]+l'attention)\b"
)
#: The rest of a field's line after its first word: more name words, one comma at most.
_REST_OF_LINE = re.compile(r"(?<![ \t,])(?:,?[ \t]++[^\W\d_][\w'’.-]*+){1,3}(?=[ \t]*+[\"'”]?[ \t]*+(?:\r?\n|$))")
_LINE_END = re.compile(r"(?<![ \t])[ \t]*+[\"'”]?[ \t]*+(?:\r?\n|$)")
#: A web address: no word of it is a name.
_URL = re.compile(r"(?<![\w.-])(?:https?://|www\.)[^\s\"'<>]++", re.IGNORECASE)
_PRODUCT_VERSION = re.compile(r"/v?\d")
#: Lower-case words that end a name (``Olivér Kertész of Zwack``).
_LOWER_BREAK = frozenset({"of", "from", "at", "for", "in", "on", "is", "was", "and", "or"})
#: A possessive followed by another capitalised word (``Bamix's Frederick``).
_POSSESSIVE_ONLY = re.compile(r"(?<![ \t])[ \t]++[A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁЄІЇҐΑ-Ω]")
#: Honorifics of the languages we serve (casefolded): never part of the name they stand before.
#: Not ``don``, ``dona``, ``lady``, ``master``, ``pan``: given names or surnames as well.
_HONORIFICS = _wordset(
    """
    mr mrs ms mx miss dr prof sir madam mme mlle herr frau sr sra srta dhr mevr mej mevrouw meneer
    juffrouw doña señor señora señorita senhor senhora sig signor signora signorina hr fru frk fröken
    herra rouva neiti härra proua bayan sayın monsieur madame mademoiselle doktor dott ing mgr bc
    ungfrú frú professor doctor пан пані г-н г-жа господин госпожа профессор доктор миссис мистер
    мисс κος κα κύριος κυρία
    """
)
#: Words after a name that are no part of it (``... Мягкова Suite 122``, ``Murcia bridge``).
_TRAILING_NOT_NAME = _wordset("unit suite flat apt apartment room floor bridge street road government")
_STRONG_RULES = frozenset({"name is", "name field", "title", "title (other languages)", "speaker label"})
#: ``<name> of`` / ``<name> from`` right before a hit (the offset of the match is a name's end).
_AFTER_NAME_OF = re.compile(r"(?:'s)?(?<![ \t])[ \t]++(?:of|from)[ \t]++$")
_ORG_CONTEXT = re.compile(
    r"\b(?:work(?:s|ed|ing)?[ \t]+(?:for|at)|employed[ \t]+(?:by|at)|according[ \t]+to(?:[ \t]+the)?"
    r"|support|joined|company|firm|brand)[ \t]+[«\"“]?$"
    # ``when did you start at X``, ``head of logistics at X``, ``employee of the month at X``
    r"|\b(?:start|started|starting|began|begin|work|works|worked|working|employee|employed|month|head|job"
    r"|career|position|intern|internship)\b[^\n.!?]{0,40}\bat[ \t]+$",
    re.IGNORECASE,
)


#: Honorifics of the other languages our visitors write (capitalised; the next word must be a
#: name word: ``Dhr. Van de Velde``, ``Dona Leitão``, ``Pani Nowak``, ``Bay Yılmaz``).
_FOREIGN_TITLE = re.compile(
    r"(?<![\w.])(?P<title>Dhr|Mevr|Mej|Mevrouw|Meneer|Dona|Doña|Don|Dom|Sig|Sig\.ra|Signor|Signora|Signorina|Hr|Fru"
    r"|Frk|Pan|Pani|Paní|Pán|Herra|Rouva|Neiti|Härra|Proua|Bay|Bayan|Sayın|Sn|Master|Mstr|Dame|Lady|Lord|Monsieur"
    r"|Mademoiselle|Doktor|Dott|Dott\.ssa|Ing|Mgr|Bc|Пан|Пані|Г-н|Г-жа|Κος|Κα|Κ)\.?[ \t]+"
)
#: A dialogue line's speaker label (after quote marks ``>``): the name and a colon, then text.
_SPEAKER = re.compile(
    r"^[ \t>]*(?P<name>[^\W\d_][\w'’-]*(?:[ \t][^\W\d_][\w'’-]*){0,2})[ \t]*:(?=[ \t]*[\"“'«]|[ \t]+\S)",
    re.MULTILINE,
)
_VOCATIVE_START = re.compile(
    r"(?:^|(?<=[.!?\n:]) ?|(?:(?<=\bSo,)|(?<=\bWell,)|(?<=\bOkay,)|(?<=\bOk,)|(?<=\bOh,)|(?<=\bYes,)"
    r"|(?<=\bNo,)|(?<=\bSure,)|(?<=\bRight,)|(?<=\bNow,)|(?<=\bHey,)|(?<=\bLook,)) ?)"
    r"[ \t]*(?P<name>[^\W\d_][\w'’-]*(?:[ \t][^\W\d_][\w'’-]*)?),[ \t]+"
    r"(?=(?:can|could|would|will|please|pls|do|did|are|is|have|has|i|we|you|thanks|thank|what|where|when|how"
    r"|why|let|just|sorry|listen|look|come|wait|hurry|stop|tell|help)\b)",
    re.IGNORECASE,
)
#: ``Operator (Celian):``, ``Angel (Support):``, ``Neomi (10:38):``: a speaker with a role or time.
_ROLE_SPEAKER = re.compile(
    r"^[ \t>]*+(?:(?i:operator|agent|support|rep|customer|visitor|moderator|interviewer|host|guest|caller|advisor)"
    r"[ \t]*+\((?P<name>[^\W\d_][\w'’-]*+(?:[ \t][^\W\d_][\w'’-]*+){0,2})\)"
    r"|(?P<name2>[^\W\d_][\w'’-]*+(?:[ \t][^\W\d_][\w'’-]*+){0,2})[ \t]*+\([^()\n]{1,20}\))[ \t]*+:",
    re.MULTILINE,
)
_INITIAL = re.compile(r"(?<![\w.])[A-ZÀ-ÖØ-ÞА-ЯΑ-Ω]\.[ \t]?(?=[A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁЄІЇҐΑ-Ω][^\W\d_]{2})")
_POSSESSIVE = re.compile(
    r"(?<![\w'’-])(?P<name>[A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁЄІЇҐΑ-Ω][^\W\d_]++)['’]s?[ \t]++(?:(?:new|old|own|late|farewell|birthday"
    r"|first|last|little|big|younger|older|elder)[ \t]++)?(?i:funeral|party|birthday|wedding|flat|apartment|house|home"
    r"|place|room|wife|husband|partner|mother|mom|mum|father|dad|son|daughter|brother|sister|family|kids|children"
    r"|friend|colleague|co-author|coauthor|boss|manager|assistant|desk|car|dog|cat|phone|email|number|address"
    r"|account|order|name|retirement|memorial|grave|life|career|book|novel|paper|study|thesis|death|baby|parents)\b"
)
#: ``Sure, Abrienne.``, ``Thanks, Ingrid!``: a name addressed after an interjection, then the
#: sentence ends.
_VOCATIVE_INTERJECTION = re.compile(
    r"\b(?i:sure|thanks|thank[ \t]+you|ok|okay|yes|no|hi|hello|hey|sorry|right|alright|great|perfect|of[ \t]+course"
    r"|certainly|welcome|morning|good[ \t]+morning|good[ \t]+afternoon|good[ \t]+evening|bye|cheers)[ \t]*+,[ \t]*+"
    r"(?P<name>[^\W\d_][\w'’-]*+(?:[ \t][^\W\d_][\w'’-]*+)?)[ \t]*+[.!?]"
)
#: Small words a title-case line keeps in lower case (``Head of Procurement``).
_TITLE_SMALL = frozenset({"of", "and", "for", "the", "de", "du", "des", "der", "und", "y", "e", "et", "&"})


def _title_case(line: str) -> bool:
    """A line so far in title case (``Head of Procurement``): a job title or a company, no sentence."""
    words = line.split()
    return len(words) >= 2 and all(
        w in _TITLE_SMALL or (w[0].isupper() and w.replace("&", "").replace("-", "").replace(".", "").isalpha())
        for w in words
    )  # not ``Rep: Sure``


_VOCATIVE_END = re.compile(
    r",[ \t]+(?P<name>[^\W\d_][\w'’-]*(?:[ \t][^\W\d_][\w'’-]*)?)[ \t]*[?!.]*[ \t]*$", re.MULTILINE
)
#: What joins items of a list of names.
_LIST_NEXT = re.compile(
    r"(?<![ \t]),?[ \t]++(?:and|or|&|und|et|y|e|og|och|en|i|a|ja|ve|та|і|и)[ \t]++|(?<![ \t]),[ \t]*+", re.IGNORECASE
)
_LIST_PREV = re.compile(
    r"(?<![\w'’-])(?P<item>[^\W\d_][\w'’-]*(?:[ \t][^\W\d_][\w'’-]*){0,2})"
    r"(?:,?[ \t]++(?:and|or|&|und|et|y|e|og|och|en|i|a|ja|ve|та|і|и)[ \t]++|,[ \t]*+)$",
    re.IGNORECASE,
)
#: Words that make a run of capitalised words a company or an ensemble, not a person.
_ORG_WORDS = _wordset(
    """
    pty ltd limited inc incorporated llc llp plc gmbh ag kg sa sas sarl srl spa bv nv oy oyj ab asa as
    a/s aps corp corporation company co group holdings holding orchestra band brewery bank banca banco
    foundation institute university hospital hotel restaurant systems software solutions technologies
    services partners associates sønner sons söhne brothers bros kft zrt nyrt bt rt doo dd ad sro zoo sp
    ltda cia lda sl
    """
)
_ORG_AFTER = re.compile(
    r"(?<![ \t])(?:[ \t]*+,)?[ \t]++(?:&[ \t]++)?"
    r"(?:Pty|Ltd|Limited|Inc|LLC|LLP|PLC|plc|GmbH|AG|KG|S\.?A\.?|SAS|SARL|S\.?r\.?l|S\.?p\.?A"
    r"|B\.?V|N\.?V|Oy|Oyj|AB|ASA|AS|A/S|ApS|Corp|Corporation|Company|Co\.|Group|Holdings|Orchestra|Band|Brewery"
    r"|Bank|Foundation|Institute|University|Hospital|Hotel|Systems|Software|Solutions|Technologies|Services"
    r"|Partners|Associates|Sønner|Sons|Söhne|Brothers|Kft|Zrt|Nyrt|d\.o\.o|d\.d|s\.r\.o|a\.s|Sp\.|Ltda|Lda)\b"
)
_LINE_NAME = re.compile(r"[^\W\d_][\w'’.-]*(?:[ \t]+[^\W\d_][\w'’.-]*){0,4}\.?")
#: ``send the documents to Abraam Posse, Sjöfararvägen 1014, ...``: after ``to`` or a colon, a
#: capitalised name, a comma, then a street (a house number and words, in either order).
_NAME_THEN_STREET = re.compile(
    r"(?:(?<=\bto )|(?<=: ))(?P<name>[A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁЄІЇҐΑ-Ω][^\W\d_'’-]*+(?:[ \t][A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁЄІЇҐΑ-Ω]"
    r"[^\W\d_'’-]*+){1,3}),[ \t]*+(?:\d{1,6}[a-z]?[ \t]+[^\W\d_]|[^\W\d_][\w'’.-]*+(?:[ \t][^\W\d_][\w'’.-]*+){0,3}"
    r"[ \t]\d{1,5}\b)"
)
_ONE_LINE_ADDRESS = re.compile(
    r"^[ \t]*+(?:(?:ship|send|bill|deliver)(?:\s+it)?\s+to\s*+:?\s*+)?"
    r"(?P<name>[^\W\d_][\w'’.-]*(?:[ \t]+[^\W\d_][\w'’.-]*){1,3})"
    r"[ \t]*,[ \t]*\d{1,6}[a-z]?[ \t]+[^\W\d_]",
    re.IGNORECASE,
)
#: The states, DC and Puerto Rico only: the territories' codes include surnames and words
#: (``Eileen Gu``, ``known as``; see ``recognizers.geo``).
_STATES = alternation(STATE_CODES)
#: ``(?:,|(?<![ \t,]))``: a comma, or a start that does not follow a blank or a comma. A start
#: inside a run of blanks is never the leftmost match (the position before it matches too), so a
#: run of blanks is scanned once, not once from each of its positions.
_ENDS_WITH_STATE = re.compile(rf"(?:,|(?<![ \t,]))[ \t]++(?:{_STATES})$", re.IGNORECASE)
_CITY_STATE = re.compile(
    rf"(?:,|(?<![ \t,]))[ \t]++(?:{_STATES})\b(?:[ \t]++\d{{5}}|[ \t]*+$|[ \t]*+[,\n])", re.IGNORECASE
)
