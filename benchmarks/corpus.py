"""A labeled corpus of synthetic customer-service traffic, made by a seeded generator.

``generate(n, seed)`` returns ``n`` :class:`LabeledMessage` s: chat turns (a good share of them
typed in lower case, with loose punctuation), survey answers (free text and ``key: value`` forms),
address blocks (single line and multi-line, with unit lines) and diagnostic log lines. Every PII
value is labeled with its character span and entity type; everything else (order numbers, years,
prices, dates without birth context, product and brand names, timestamps, ids ...) is deliberately
there as a hard negative.

Names come from Faker's person providers of some fifty locales (Latin script, plus romanised
Japanese and Chinese); values come from Faker where it has them and from our own formats where it
does not (driver licences, phone extensions, incomes ...). The same ``(n, seed)`` always gives the
same corpus, so the accuracy and load benchmarks can share it.

The corpus is synthetic: it contains no real person's data.
"""

from __future__ import annotations

import random
import re
import string
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from faker import Faker

__all__ = ["ENTITIES", "LabeledMessage", "Span", "generate"]

ENTITIES = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "US_SSN",
    "IBAN_CODE",
    "US_DRIVER_LICENSE",
    "IP_ADDRESS",
    "DATE_OF_BIRTH",
    "US_ZIP_CODE",
    "AGE",
    "INCOME",
    "STREET_ADDRESS",
)


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    entity: str


@dataclass(frozen=True, slots=True)
class LabeledMessage:
    text: str
    spans: tuple[Span, ...]
    #: ``chat``, ``survey``, ``address`` or ``log``.
    kind: str
    #: Typed in lower case (chat style).
    lower: bool = False

    def values(self) -> Iterator[tuple[Span, str]]:
        for s in self.spans:
            yield s, self.text[s.start : s.end]


# --------------------------------------------------------------------------------------------
# Name sources: Faker person providers of many locales (Latin script only, or romanised).
_NAME_LOCALES: tuple[tuple[str, float], ...] = (
    ("en_US", 10), ("en_GB", 4), ("en_IE", 1), ("en_AU", 1), ("en_CA", 1), ("en_IN", 4),
    ("en_PK", 2), ("en_NG", 2), ("yo_NG", 1), ("ig_NG", 1), ("ha_NG", 1), ("zu_ZA", 1),
    ("tw_GH", 1), ("sw", 1), ("en_KE", 1), ("de_DE", 3), ("de_AT", 1), ("fr_FR", 3),
    ("fr_CA", 1), ("es_ES", 3), ("es_MX", 3), ("es_AR", 1), ("es_CO", 1), ("it_IT", 3),
    ("pt_BR", 3), ("pt_PT", 1), ("nl_NL", 2), ("nl_BE", 1), ("pl_PL", 2), ("cs_CZ", 1),
    ("sk_SK", 1), ("hu_HU", 1), ("ro_RO", 1), ("hr_HR", 1), ("sl_SI", 1), ("sv_SE", 1),
    ("no_NO", 1), ("da_DK", 1), ("fi_FI", 1), ("is_IS", 1), ("et_EE", 1), ("lt_LT", 1),
    ("lv_LV", 1), ("tr_TR", 2), ("az_AZ", 1), ("id_ID", 2), ("vi_VN", 2), ("fil_PH", 1),
    ("ja_JP", 2), ("zh_CN", 2), ("ga_IE", 1), ("sq_AL", 1),
)  # fmt: skip
_ROMANISED = {"ja_JP", "zh_CN"}
_LATIN = re.compile(r"^[A-Za-z\u00C0-\u024F\u1E00-\u1EFF][A-Za-z\u00C0-\u024F\u1E00-\u1EFF' .-]*$")

_PHONE_LOCALES = ("en_US", "en_US", "en_US", "en_CA", "en_GB", "en_AU", "en_IN", "de_DE", "fr_FR", "es_ES",
                  "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE", "da_DK", "fi_FI", "ro_RO", "cs_CZ", "es_MX",
                  "en_NG", "id_ID", "tr_TR", "uz_UZ")  # fmt: skip
_IBAN_LOCALES = ("en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_PT", "de_AT", "fi_FI")
_STREET_LOCALES = ("en_US", "en_US", "en_US", "en_US", "en_CA", "en_GB", "en_AU")

_US_AREA = ("201", "202", "206", "212", "213", "214", "215", "217", "224", "240", "267", "281", "301", "303",
            "305", "310", "312", "313", "323", "347", "404", "412", "415", "425", "469", "480", "503", "505",
            "512", "516", "571", "602", "614", "617", "626", "646", "650", "678", "702", "703", "704", "713",
            "718", "720", "773", "786", "801", "808", "813", "818", "832", "857", "907", "916", "917", "925",
            "949", "954", "971", "972")  # fmt: skip
_REAL_CITIES = (("Springfield", "IL"), ("Austin", "TX"), ("Portland", "OR"), ("Madison", "WI"),
                ("Charlotte", "NC"), ("Jackson", "MS"), ("Columbus", "OH"), ("Denver", "CO"),
                ("Tucson", "AZ"), ("Boise", "ID"), ("Raleigh", "NC"), ("Albany", "NY"), ("Savannah", "GA"),
                ("Eugene", "OR"), ("Helena", "MT"), ("Tyler", "TX"), ("Lincoln", "NE"), ("Florence", "SC"),
                ("San Jose", "CA"), ("New York", "NY"), ("Brooklyn", "NY"), ("Chicago", "IL"),
                ("Seattle", "WA"), ("Miami", "FL"), ("Boston", "MA"), ("Phoenix", "AZ"), ("Dallas", "TX"),
                ("Oakland", "CA"), ("Salt Lake City", "UT"), ("Des Moines", "IA"))  # fmt: skip
_PRODUCTS = ("iPhone 15 Pro", "Galaxy S23 Ultra", "Kindle Paperwhite", "Surface Laptop 5", "Echo Dot",
             "AirPods Pro", "Pixel 8", "MacBook Air", "ThinkPad X1 Carbon", "PlayStation 5", "Xbox Series X",
             "Roomba j7", "Fitbit Charge 6", "Instant Pot Duo", "Dyson V15", "Nest Thermostat", "Sonos Arc",
             "Apple Watch Series 9", "Chromecast", "Ring Doorbell", "Model 3", "Air Jordan 1", "Alexa",
             "Galaxy Tab S9", "Quest 3", "GoPro Hero 12", "Kindle Scribe", "Vitamix 5200", "Peloton Bike",
             "Roku Ultra", "Victoria Secret gift card", "Tempur-Pedic mattress")  # fmt: skip
_BRANDS = ("Amazon", "Apple", "Google", "Microsoft", "FedEx", "UPS", "DHL", "PayPal", "Visa", "Mastercard",
           "Netflix", "Spotify", "Uber", "Zoom", "Slack", "Costco", "Walmart", "Target", "Verizon", "Comcast",
           "T-Mobile", "Wells Fargo", "Chase", "Ford", "Tesla", "Dell", "Lenovo", "Samsung", "Wendy's",
           "McDonald's", "Ben & Jerry's", "Trader Joe's", "Marriott", "Hilton", "Delta", "Expedia")  # fmt: skip
_PLANS = ("Premium Plan", "Family Plan", "Pro tier", "Gold Membership", "Basic plan", "Business Plus",
          "Unlimited Data", "Student discount", "Prime", "Annual Pass")  # fmt: skip
_DEPARTMENTS = ("billing", "Billing", "tech support", "Technical Support", "the returns team", "Customer Care",
                "sales", "the Fraud Department", "Shipping", "account services")  # fmt: skip
_TITLES = ("Mr.", "Mrs.", "Ms.", "Dr.", "Mr", "Ms", "Mrs", "Dr", "Miss", "Prof.")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    entity: str | None = None
    #: Pasted values (IBANs, card numbers ...) keep their case in lower-case chat.
    pasted: bool = False


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._fakers: dict[str, Faker] = {}
        self._seed = seed
        locales, weights = zip(*_NAME_LOCALES, strict=True)
        self._name_locales = list(locales)
        self._name_weights = list(weights)

    def faker(self, locale: str) -> Faker:
        f = self._fakers.get(locale)
        if f is None:
            f = Faker(locale)
            f.seed_instance(self._seed + len(self._fakers) * 7919)
            self._fakers[locale] = f
        return f

    def choice(self, seq: tuple[str, ...] | list[str]) -> str:
        return seq[self.rng.randrange(len(seq))]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # ---- names ----------------------------------------------------------------------------
    def _name_part(self, part: str) -> str:
        for _ in range(20):
            loc = self.rng.choices(self._name_locales, self._name_weights)[0]
            f = self.faker(loc)
            if loc in _ROMANISED:
                value = f.first_romanized_name() if part == "first" else f.last_romanized_name()
            else:
                value = f.first_name() if part == "first" else f.last_name()
            if _LATIN.match(value) and len(value) >= 2:
                return str(value)
        return "Alex" if part == "first" else "Morgan"

    def first(self) -> str:
        return self._name_part("first")

    def last(self) -> str:
        return self._name_part("last")

    def full(self) -> str:
        first, last = self.first(), self.last()
        if self.chance(0.06):
            return f"{first} {self.rng.choice(string.ascii_uppercase)}. {last}"
        return f"{first} {last}"

    # ---- contact values -------------------------------------------------------------------
    def email(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            return str(self.faker(self.choice(("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT"))).email())
        if r < 0.6:
            return str(self.faker("en_US").free_email())
        first = _ascii(self.first()).lower().replace(" ", "")
        last = _ascii(self.last()).lower().replace(" ", "")
        sep = self.choice((".", "_", "", "-"))
        num = str(self.rng.randint(1, 99)) if self.chance(0.4) else ""
        domain = self.choice(
            (
                "gmail.com",
                "yahoo.com",
                "outlook.com",
                "hotmail.co.uk",
                "web.de",
                "icloud.com",
                "proton.me",
                "company.io",
                "mail.example.org",
                "uni-hamburg.de",
                "orange.fr",
            )
        )
        local = f"{first}{sep}{last}{num}" if self.chance(0.7) else f"{first[:1]}{last}{num}"
        return f"{local}@{domain}"

    def phone(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            loc = self.choice(_PHONE_LOCALES)
            value = str(self.faker(loc).phone_number())
        else:
            area, exch, line = self.choice(_US_AREA), self.rng.randint(200, 999), self.rng.randint(0, 9999)
            fmt = self.choice(("({a}) {e}-{l:04d}", "{a}-{e}-{l:04d}", "{a}.{e}.{l:04d}", "{a} {e} {l:04d}",
                               "+1 {a} {e} {l:04d}", "+1-{a}-{e}-{l:04d}", "1-{a}-{e}-{l:04d}", "{a}{e}{l:04d}",
                               "+1 ({a}) {e}-{l:04d}", "({a}){e}-{l:04d}", "+1{a}{e}{l:04d}"))  # fmt: skip
            value = fmt.format(a=area, e=exch, l=line)
        if "x" not in value and self.chance(0.12):
            ext = self.rng.randint(1, 9999)
            value += self.choice((f" x{ext}", f" ext. {ext}", f" ext {ext}", f" extension {ext}", f" #{ext}"))
        return value

    def cc(self) -> str:
        kind = self.choice(("visa16", "visa16", "mastercard", "mastercard", "amex", "discover", "jcb16",
                            "diners", "visa19"))  # fmt: skip
        digits = str(self.faker("en_US").credit_card_number(kind))
        r = self.rng.random()
        if r < 0.4:
            return digits
        sep = " " if r < 0.75 else "-"
        if len(digits) == 15 or len(digits) == 14:
            groups = [digits[:4], digits[4:10], digits[10:]]
        else:
            groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
        return sep.join(groups)

    def ssn(self) -> str:
        value = str(self.faker("en_US").ssn())
        r = self.rng.random()
        if r < 0.2:
            return value.replace("-", " ")
        if r < 0.35:
            return value.replace("-", "")
        return value

    def iban(self) -> str:
        value = str(self.faker(self.choice(_IBAN_LOCALES)).iban())
        if self.chance(0.45):
            return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def dl(self) -> str:
        d = self.rng.randint
        fmt = self.rng.randrange(8)
        letter = self.choice(tuple(string.ascii_uppercase))
        if fmt == 0:
            return f"{letter}{d(1000000, 9999999)}"
        if fmt == 1:
            return f"{letter}{d(10000000, 99999999)}"
        if fmt == 2:
            return f"{letter}{d(100, 999)}-{d(1000, 9999)}-{d(1000, 9999)}"
        if fmt == 3:
            return f"{d(100000000, 999999999)}"
        if fmt == 4:
            return f"{d(100, 999)} {d(100, 999)} {d(100, 999)}"
        if fmt == 5:
            return f"{letter}{self.choice(tuple(string.ascii_uppercase))}{d(100000, 999999)}"
        if fmt == 6:
            return f"{letter}{d(100, 999)}-{d(100, 999)}-{d(10, 99)}-{d(100, 999)}-{d(0, 9)}"
        return f"{d(10000000, 99999999)}"

    def ipv4(self) -> str:
        f = self.faker("en_US")
        return str(f.ipv4_public() if self.chance(0.7) else f.ipv4_private())

    def ipv6(self) -> str:
        import ipaddress

        value = str(self.faker("en_US").ipv6())
        if self.chance(0.4):
            head = ":".join(value.split(":")[:4])
            return str(ipaddress.IPv6Address(f"{head}::{self.rng.randint(1, 0xFFFF):x}"))
        return value

    def dob(self) -> str:
        d: date = self.faker("en_US").date_of_birth(minimum_age=16, maximum_age=92)
        fmt = self.rng.randrange(11)
        if fmt == 0:
            return d.strftime("%m/%d/%Y")
        if fmt == 1:
            return d.isoformat()
        if fmt == 2:
            return d.strftime("%d.%m.%Y")
        if fmt == 3:
            return f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"
        if fmt == 4:
            return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"
        if fmt == 5:
            return f"{_MONTHS[d.month - 1][:3]} {d.day} {d.year}"
        if fmt == 6:
            return f"{d.month}/{d.day}/{d.year % 100:02d}"
        if fmt == 7:
            return d.strftime("%d/%m/%Y")
        if fmt == 8:
            return d.strftime("%m-%d-%Y")
        if fmt == 9:
            return f"{d.day}{_ordinal(d.day)} of {_MONTHS[d.month - 1]} {d.year}"
        return f"{d.month}/{d.day}/{d.year}"

    def zip(self) -> str:
        f = self.faker("en_US")
        return str(f.zipcode_plus4() if self.chance(0.2) else f.zipcode())

    def age(self) -> str:
        return str(self.rng.randint(18, 89) if self.chance(0.85) else self.rng.randint(2, 17))

    def income(self) -> str:
        amount = self.rng.randrange(18, 400) * 1000 + (self.rng.randrange(0, 1000, 250) if self.chance(0.2) else 0)
        k = amount // 1000
        fmt = self.rng.randrange(10)
        if fmt == 0:
            return f"${amount:,}"
        if fmt == 1:
            return f"{k}k"
        if fmt == 2:
            return f"${k}k"
        if fmt == 3:
            return f"USD {amount:,}"
        if fmt == 4:
            return f"{amount:,} dollars"
        if fmt == 5:
            return f"{amount}"
        if fmt == 6:
            return f"${amount:,}.00"
        if fmt == 7:
            return f"{k}K"
        if fmt == 8:
            return f"{amount:,}"
        return f"${amount}"

    def street(self) -> str:
        loc = self.choice(_STREET_LOCALES)
        value = str(self.faker(loc).street_address()).replace("\n", " ")
        if self.chance(0.15) and not re.search(r"\b(?:apt|suite|unit|flat|studio)\b", value, re.I):
            value += self.choice((", ", " ")) + self.unit()
        return value

    def unit(self) -> str:
        n = self.rng.randint(1, 999)
        return self.choice(
            (
                f"Apt. {n}",
                f"Apt {n}{self.choice(('', 'B', 'C', ''))}",
                f"Suite {n}",
                f"Unit {n}",
                f"#{n}",
                f"Apartment {n}",
                f"Ste {n}",
                f"Floor {self.rng.randint(2, 40)}",
            )
        )

    def city_state(self) -> tuple[str, str]:
        if self.chance(0.5):
            return _REAL_CITIES[self.rng.randrange(len(_REAL_CITIES))]
        f = self.faker("en_US")
        return str(f.city()), str(f.state_abbr(include_territories=False, include_freely_associated_states=False))

    # ---- hard negatives -------------------------------------------------------------------
    def order(self) -> str:
        d = self.rng.randint
        return self.choice((f"#{d(10000, 99999999)}", f"{d(10000, 9999999)}", f"A-{d(10000, 999999)}",
                            f"ORD-{d(2019, 2025)}-{d(100, 99999):05d}", f"#{d(100, 999)}-{d(1000000, 9999999)}",
                            f"{d(100, 999)}-{d(1000000, 9999999)}-{d(1000000, 9999999)}"))  # fmt: skip

    def price(self) -> str:
        v = self.rng.randint(3, 2500)
        cents = self.rng.randint(0, 99)
        return self.choice((f"${v}.{cents:02d}", f"${v}", f"€{v}", f"USD {v}.{cents:02d}", f"${v:,}.00",
                            f"{v} dollars", f"£{v}.{cents:02d}", f"${v}.99"))  # fmt: skip

    def plain_date(self) -> str:
        d = date(2023, 1, 1) + timedelta(days=self.rng.randint(0, 900))
        return self.choice(
            (
                d.strftime("%m/%d/%Y"),
                d.isoformat(),
                f"{_MONTHS[d.month - 1]} {d.day}",
                f"{d.day} {_MONTHS[d.month - 1][:3]}",
                d.strftime("%d.%m.%Y"),
                f"{d.month}/{d.day}",
            )
        )

    def ticket(self) -> str:
        return self.choice(
            (
                f"#{self.rng.randint(1000, 999999)}",
                f"TCK-{self.rng.randint(10000, 99999)}",
                f"{self.rng.randint(100000, 9999999)}",
                f"CS-{self.rng.randint(2020, 2025)}-{self.rng.randint(1000, 9999)}",
            )
        )

    def tracking(self) -> str:
        d = self.rng.randint
        return self.choice((f"1Z{d(100, 999)}AA{d(10000000, 99999999)}{d(10, 99)}",
                            f"9400 {d(1000, 9999)} {d(1000, 9999)} {d(1000, 9999)} {d(1000, 9999)} {d(10, 99)}",
                            f"{d(100000000000, 999999999999)}", f"JD{d(100000000, 999999999)}GB"))  # fmt: skip

    def ts(self) -> str:
        d = date(2024, 1, 1) + timedelta(days=self.rng.randint(0, 600))
        h, m, s, ms = (
            self.rng.randint(0, 23),
            self.rng.randint(0, 59),
            self.rng.randint(0, 59),
            self.rng.randint(0, 999),
        )
        return self.choice(
            (
                f"{d.isoformat()}T{h:02d}:{m:02d}:{s:02d}.{ms:03d}Z",
                f"{d.isoformat()} {h:02d}:{m:02d}:{s:02d}",
                f"[{d.isoformat()} {h:02d}:{m:02d}:{s:02d},{ms:03d}]",
                f"{d.strftime('%b %d')} {h:02d}:{m:02d}:{s:02d}",
            )
        )

    def hexid(self) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(self.rng.choice((8, 12, 16, 32))))

    def uuid(self) -> str:
        h = "".join(self.rng.choice("0123456789abcdef") for _ in range(32))
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def version(self) -> str:
        return self.choice(
            (
                f"v{self.rng.randint(1, 9)}.{self.rng.randint(0, 20)}.{self.rng.randint(0, 9)}",
                f"{self.rng.randint(1, 17)}.{self.rng.randint(0, 9)}",
                f"build {self.rng.randint(1000, 99999)}",
            )
        )


def _ascii(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


# --------------------------------------------------------------------------------------------
# Templates. A placeholder names a value maker below; literal text is everything else.

_CHAT = (
    # names introduced by context
    "hi, my name is {full} and I need help with order {order}",
    "Hello, my name is {first}. I was charged twice for {product}.",
    "My name's {full}, I placed an order on {plain_date} and it never arrived",
    "hi this is {first}, my package still hasn't arrived",
    "Hi, this is {full} from {brand}, returning your call",
    "This is {first} again, any update on ticket {ticket}?",
    "I'm {first} {last}, the account holder",
    "im {first} btw",
    "Could I speak to {first} please? She helped me last week.",
    "can i speak to {title} {last}",
    "I'd like to speak with {full} about my refund",
    "please ask for {first} when you call back",
    "When you call, ask for {title} {last} in {department}.",
    "Can you transfer me to {first}? He knows my case",
    "I talked to {first} yesterday and she said it would ship by {plain_date}",
    "{first} said the refund would take 5-7 business days",
    "{title} {last} said he would call me back but nobody did",
    "{last} said he would call, but I never heard back.",
    "{full} will pick up the package for me on {plain_date}",
    "my wife {first} set up the {plan}, can you add me?",
    "My husband, {full}, is also on the account.",
    "the account is under my daughter's name, {full}",
    "please cancel the subscription for {full}, order {order}",
    "the order was placed by {full} but shipped to the wrong address",
    "thanks, {first}!",
    "Thank you {first}, that fixed it.",
    "thanks {first} you've been super helpful",
    "ok great, thx {first}",
    "Cheers {first}, have a good one",
    "Hi {first}, I still can't log in to the app ({version})",
    "hello {first}, quick question about my invoice",
    "Dear {title} {last}, I am writing about the charge of {price} on my card.",
    "Best regards,\n{full}",
    "thanks for your help\n{first}",
    "Kind regards, {full}",
    "Thanks again! - {first}",
    "{first} here, following up on ticket {ticket}",
    "is {first} still working there? she handled my claim",
    "the agent, {first}, was very helpful",
    "cc {full} on this please",
    "Could you let {full} know that the {product} is ready?",
    "send the receipt to {full} at {email}",
    "I'm calling on behalf of my mother, {full}.",
    "my manager {full} needs a copy of the invoice",
    # contact data
    "you can reach me at {phone}",
    "my number is {phone}, call after 5pm",
    "Please call me back on {phone}",
    "my cell is {phone} and my email is {email}",
    "text me at {phone} if the courier is late",
    "Phone: {phone}",
    "my email is {email}",
    "please send the confirmation to {email}",
    "update my email to {email} please",
    "It's {full}, {email}, {phone}",
    "contact me: {email} / {phone}",
    "new number: {phone} (old one was {phone})",
    "office line {phone}, ask for {first}",
    # payment and ids
    "my card number is {cc} exp 08/27",
    "Charge it to {cc} please",
    "the card ending in 4242 was declined, try {cc}",
    "I paid {price} with card {cc} but order {order} shows unpaid",
    "My SSN is {ssn}",
    "ssn {ssn} for the credit check",
    "for verification: social security number {ssn}",
    "wire it to IBAN {iban}",
    "please refund {price} to {iban}, thanks",
    "bank details: {iban} ({full})",
    "visa {cc} exp 11/26 cvv on the back",
    "can you update the card on file to {cc}",
    "social: {ssn}",
    "SSN {ssn}, DOB {dob}",
    "license {dl}",
    "here is my DL number {dl} for the rental",
    "my iban is {iban}, bank transfer please",
    "Refund to account {iban} please",
    "my driver's license number is {dl}",
    "Driver license: {dl}, issued in {state}",
    "DL# {dl}",
    "drivers licence no {dl} exp 2027",
    # dob, age, income, zip
    "my date of birth is {dob}",
    "DOB: {dob}",
    "I was born on {dob}",
    "born {dob} in {city}",
    "my birthday is {dob}, can I get the birthday discount?",
    "birthdate {dob}",
    "dob {dob} zip {zip}",
    "I'm {age} years old and live in {zip}",
    "i am {age} and i need a plan for seniors",
    "my son is {age} years old, can he have his own account?",
    "I'm a {age}-year-old teacher from {city}",
    "im {age} lol",
    "turned {age} last month",
    "aged {age}, non-smoker",
    "{age} y/o male looking for a quote",
    "my zip is {zip}",
    "zip code {zip}, is delivery available?",
    "my postal code is {zip}",
    "do you deliver to {zip}?",
    "I make about {income} a year",
    "my salary is {income}",
    "household income around {income} per year",
    "I earn {income} annually, do I qualify?",
    "we make {income} combined",
    "annual income: {income}",
    "my income is {income} so I should qualify",
    # addresses in chat
    "ship it to {street}, {city}, {state} {zip}",
    "my address is {street}, {city} {state} {zip}",
    "I moved to {street}, please update",
    "new address: {street}\n{city}, {state} {zip}",
    "deliver to {street} please, the old one was {street}",
    "I live at {street} in {city}",
    "{unit} is the right unit, not {unit}",
    # ip
    "my IP is {ipv4}, you can whitelist it",
    "I'm connecting from {ipv6} and keep getting blocked",
    "the login came from {ipv4}, that wasn't me",
    # combos
    "Name: {full}, DOB {dob}, phone {phone}",
    "{full}\n{email}\n{phone}",
    "hi i'm {first}, {age}, zip {zip}, email {email}",
    "this is {full}, my card {cc} was charged {price} twice",
    "my name is {full}, born {dob}, ssn {ssn}",
    # hard negatives, no PII
    "my order {order} from {year} still hasn't shipped",
    "The {plan} costs {price}/month, right?",
    "I bought the {product} last May and it broke",
    "Thanks for the quick reply!",
    "Is the {product} in stock?",
    "ticket {ticket} was closed on {plain_date} without a fix",
    "Can I get a refund for order {order}?",
    "Version {version} crashes when I open Settings",
    "we have 25 employees and need the {plan}",
    "I've been a customer since {year}",
    "the package weighs 12 lbs and was {price} to ship",
    "please call back between 9 and 5, Monday to Friday",
    "Tracking number {tracking} says delivered but nothing here",
    "I was charged {price} on {plain_date} and again on {plain_date}",
    "the {brand} app says error 500 after the update",
    "My {product} won't charge, I tried 3 cables",
    "Where is my order? It's been 10 days",
    "can I pay with {brand} instead?",
    "i need to talk to {department} about a charge of {price}",
    "transfer me to {department} please",
    "can i speak to a manager",
    "I'd like to speak with someone in {department}",
    "This is ridiculous, I have been waiting for 45 minutes",
    "this is my third time asking",
    "i'm so frustrated, order {order} is late again",
    "I'm 5 minutes away from the store",
    "i am 2 days late on the payment, will it affect my account?",
    "The {product} was {price} at {brand} but {price} here",
    "Order {order} qty 3 total {price}",
    "my order number is {order} and the invoice is INV-{year}-{ticket_n}",
    "Room 12 at the hotel was fine, the {plan} is not",
    "can you price match {brand}? they have it for {price}",
    "in {year} I paid {price} for the same thing",
    "Great service, 5 stars. Will recommend to friends!",
    "Happy New Year! Any sales coming up in January?",
    "We're in the {city} office, Building 4, Floor 3",
    "is 10001 a valid promo code?",
    "The promo SUMMER25 didn't work at checkout",
    "got {percent} off with code WELCOME10",
    "hey, the {product} arrived broken, box was crushed",
)

_SURVEY_FREE = (
    "How old are you? {age}",
    "Age: {age}",
    "I am {age} years old.",
    "What is your annual household income? {income}",
    "Income: {income} per year",
    "about {income} before tax",
    "What is your ZIP code? {zip}",
    "Zip: {zip}",
    "I live in {zip}.",
    "Date of birth: {dob}",
    "When were you born? {dob}",
    "Any other comments? The agent, {first}, was great. Please contact me at {email}.",
    "Comments: {first} {last} solved my issue quickly. {price} refund received on {plain_date}.",
    "Q: Who helped you today? A: {first}",
    "Would you recommend us? Yes, told my friend {first} about the {plan}.",
    "Rate your experience 1-10: 9. Delivery to {zip} took 3 days.",
    "Overall satisfied (4/5). I bought {product} in {year}.",
    "No comments.",
)

_SURVEY_FORM_KEYS = {
    "name": ("Name", "Full name", "name", "Your name", "NAME", "Respondent"),
    "email": ("Email", "E-mail", "email", "Email address", "Contact email"),
    "phone": ("Phone", "Phone number", "Mobile", "Tel", "Best number to reach you"),
    "zip": ("ZIP", "Zip code", "ZIP/Postal code", "zip", "Postal code"),
    "age": ("Age", "age", "Your age", "AGE", "Age (years)"),
    "income": ("Income", "Annual income", "Household income", "Yearly salary", "income (annual)"),
    "dob": ("DOB", "Date of birth", "Birth date", "Birthday", "date of birth"),
    "street": ("Address", "Street address", "Mailing address", "address line 1"),
    "product": ("Product", "Item purchased", "Model"),
    "order": ("Order", "Order number", "Order #", "Reference"),
    "score": ("Score", "Rating", "NPS"),
    "year": ("Customer since", "Year of purchase"),
}

_LOGS = (
    '{ts} INFO auth login ok user={email} ip={ipv4} ua="{ua}"',
    "{ts} WARN auth failed login for {email} from {ipv4} attempts=3",
    "{ts} ERROR payment declined card={cc} amount={price_n} order={order_n} req={hexid}",
    "{ts} INFO sms sent to={phone} template=otp status=delivered latency_ms={ms}",
    "{ts} WARN sms delivery failed to {phone}: timeout after {ms}ms",
    "{ts} DEBUG session={hexid} client={ipv6} GET /api/v1/orders/{order_n} 200 {ms}ms",
    "{ts} INFO user {full} (id {order_n}) updated shipping address to {street}, {city}, {state} {zip}",
    "{ts} INFO kyc check ssn={ssn} dob={dob} result=pass trace={uuid}",
    "{ts} ERROR [billing] iban {iban} rejected by bank: invalid BIC",
    '{ts} INFO profile update user_id={order_n} name="{full}" phone="{phone}"',
    "{ts} WARN rate limit exceeded for {ipv4} on /login ({ms} req/min)",
    "{ts} INFO worker-{n} processed batch {hexid} in {ms} ms, 0 errors",
    "{ts} ERROR upstream 502 from {ipv4}:8080 after {ms}ms (retry 2/5)",
    '{ts} INFO GET /health 200 {ms}ms ua="{ua}"',
    "{ts} INFO order {order_n} shipped via UPS tracking={tracking_n} weight=2.4kg",
    "{ts} DEBUG cache miss key=user:{order_n}:prefs ttl=3600",
    "{ts} INFO password reset requested for {email} ip={ipv4}",
    "{ts} INFO chat transcript saved conv={uuid} agent={first} visitor_email={email}",
    '{ts} WARN address validation failed: "{street}, {city} {state} {zip}"',
    "{ts} INFO signup name={full} age={age} zip={zip} income={income}",
    "{ts} ERROR license check failed dl={dl} state={state}",
    "{ts} INFO job nightly-export finished rows=183442 duration={ms}s",
    "{ts} INFO release {version} deployed to prod-eu-1 by ci",
    "{ts} DEBUG request from {ipv4}:{port} to {ipv4}:443 tls=1.3",
    'level=info msg="login ok" user={email} remote_addr={ipv4} duration={ms}ms',
    'level=error msg="callback failed" phone="{phone}" err="timeout"',
    '{{"ts":"{ts_raw}","level":"info","msg":"profile saved","name":"{full}","dob":"{dob}"}}',
    '{{"ts":"{ts_raw}","level":"warn","msg":"slow query","ms":{ms},"table":"orders","rows":{n}}}',
)


class _Corpus:
    def __init__(self, seed: int) -> None:
        self.g = _Gen(seed)
        g = self.g
        self.makers: dict[str, Callable[[], _Piece]] = {
            "full": lambda: _Piece(g.full(), "PERSON"),
            "first": lambda: _Piece(g.first(), "PERSON"),
            "last": lambda: _Piece(g.last(), "PERSON"),
            "title": lambda: _Piece(g.choice(_TITLES)),
            "email": lambda: _Piece(g.email(), "EMAIL_ADDRESS", pasted=True),
            "phone": lambda: _Piece(g.phone(), "PHONE_NUMBER"),
            "cc": lambda: _Piece(g.cc(), "CREDIT_CARD", pasted=True),
            "ssn": lambda: _Piece(g.ssn(), "US_SSN"),
            "iban": lambda: _Piece(g.iban(), "IBAN_CODE", pasted=True),
            "dl": lambda: _Piece(g.dl(), "US_DRIVER_LICENSE", pasted=True),
            "ipv4": lambda: _Piece(g.ipv4(), "IP_ADDRESS"),
            "ipv6": lambda: _Piece(g.ipv6(), "IP_ADDRESS", pasted=True),
            "dob": lambda: _Piece(g.dob(), "DATE_OF_BIRTH"),
            "zip": lambda: _Piece(g.zip(), "US_ZIP_CODE"),
            "age": lambda: _Piece(g.age(), "AGE"),
            "income": lambda: _Piece(g.income(), "INCOME"),
            "street": lambda: _Piece(g.street(), "STREET_ADDRESS"),
            "unit": lambda: _Piece(g.unit(), "STREET_ADDRESS"),
            "city": lambda: _Piece(g.city_state()[0], "LOCATION"),  # neutral (benchmarks.accuracy.NEUTRAL)
            "state": lambda: _Piece(g.city_state()[1], "LOCATION"),
            "order": lambda: _Piece(g.order()),
            "order_n": lambda: _Piece(str(g.rng.randint(10000, 99999999))),
            "price": lambda: _Piece(g.price()),
            "price_n": lambda: _Piece(f"{g.rng.randint(1, 999)}.{g.rng.randint(0, 99):02d}"),
            "plain_date": lambda: _Piece(g.plain_date()),
            "year": lambda: _Piece(str(g.rng.randint(1995, 2025))),
            "product": lambda: _Piece(g.choice(_PRODUCTS)),
            "brand": lambda: _Piece(g.choice(_BRANDS)),
            "plan": lambda: _Piece(g.choice(_PLANS)),
            "department": lambda: _Piece(g.choice(_DEPARTMENTS)),
            "ticket": lambda: _Piece(g.ticket()),
            "ticket_n": lambda: _Piece(str(g.rng.randint(1000, 99999))),
            "tracking": lambda: _Piece(g.tracking()),
            "tracking_n": lambda: _Piece(g.tracking().replace(" ", "")),
            "version": lambda: _Piece(g.version()),
            "percent": lambda: _Piece(f"{g.rng.choice((5, 10, 15, 20, 25, 30, 50))}%"),
            "ts": lambda: _Piece(g.ts()),
            "ts_raw": lambda: _Piece(g.ts().strip("[]")),
            "hexid": lambda: _Piece(g.hexid()),
            "uuid": lambda: _Piece(g.uuid()),
            "ms": lambda: _Piece(str(g.rng.randint(1, 30000))),
            "n": lambda: _Piece(str(g.rng.randint(1, 254))),
            "port": lambda: _Piece(str(g.rng.randint(1024, 65535))),
            "ua": lambda: _Piece(str(g.faker("en_US").user_agent())),
        }

    def fill(self, template: str) -> list[_Piece]:
        pieces: list[_Piece] = []
        at = 0
        for m in _PLACEHOLDER.finditer(template):
            if m.start() > at:
                pieces.append(_Piece(template[at : m.start()]))
            pieces.append(self.makers[m.group(1)]())
            at = m.end()
        if at < len(template):
            pieces.append(_Piece(template[at:]))
        # `{{` / `}}` in the JSON log templates
        return [_Piece(p.text.replace("{{", "{").replace("}}", "}"), None) if p.entity is None and not p.pasted
                else p for p in pieces]  # fmt: skip

    # ---- message kinds --------------------------------------------------------------------
    def chat(self) -> LabeledMessage:
        g = self.g
        pieces = self.fill(g.choice(_CHAT))
        r = g.rng.random()
        if r < 0.15:
            pieces.insert(
                0, _Piece(g.choice(("hi ", "Hello, ", "hey - ", "ok so ", "Hi there! ", "um ", "Good morning. ")))
            )
        elif r < 0.25:
            pieces.append(
                _Piece(g.choice((" thanks", " :)", " !!", " pls", "?", " asap", ". Thanks in advance.", " ty")))
            )
        lower = g.chance(0.56)
        shout = not lower and g.chance(0.03)
        out = []
        for p in pieces:
            text = p.text
            if p.entity is None and not p.pasted and lower and g.chance(0.5):
                text = _loosen(text, g.rng)
            if lower and not p.pasted:
                text = _lower(text)
            elif shout and not p.pasted:
                text = _upper(text)
            out.append(_Piece(text, p.entity, p.pasted))
        return _assemble(out, "chat", lower)

    def survey(self) -> LabeledMessage:
        g = self.g
        if g.chance(0.5):
            pieces = self.fill(g.choice(_SURVEY_FREE))
            lower = g.chance(0.25)
            if lower:
                pieces = [_Piece(_lower(p.text) if not p.pasted else p.text, p.entity, p.pasted) for p in pieces]
            return _assemble(pieces, "survey", lower)
        keys = ["name", "email", "phone", "zip", "age", "income", "dob", "street", "product", "order", "score", "year"]
        chosen = [k for k in keys if g.chance(0.45)] or ["age", "zip"]
        sep = g.choice((": ", ": ", " = ", " - ", ":\t"))
        joiner = g.choice(("\n", "\n", "; ", " | "))
        pieces = []
        for i, key in enumerate(chosen):
            if i:
                pieces.append(_Piece(joiner))
            pieces.append(_Piece(g.choice(_SURVEY_FORM_KEYS[key]) + sep))
            maker = {"name": "full", "score": None, "year": "year"}.get(key, key)
            if maker is None:
                pieces.append(_Piece(str(g.rng.randint(0, 10))))
            else:
                pieces.append(self.makers[maker]())
        return _assemble(pieces, "survey", False)

    def address(self) -> LabeledMessage:
        g = self.g
        city, state = g.city_state()
        street = str(g.faker(g.choice(_STREET_LOCALES)).street_address()).replace("\n", " ")
        unit = (
            g.unit() if g.chance(0.45) and not re.search(r"\b(?:apt|suite|unit|flat|studio)\b", street, re.I) else None
        )
        zip_ = g.zip()
        pieces: list[_Piece] = []
        lower = g.chance(0.3)
        style = g.rng.randrange(4)
        if g.chance(0.3):
            pieces.append(
                _Piece(
                    g.choice(
                        (
                            "Ship to:\n",
                            "Shipping address:\n",
                            "Bill to: ",
                            "Mailing address - ",
                            "please send it here:\n",
                        )
                    )
                )
            )
        if g.chance(0.6):
            pieces += [_Piece(g.full(), "PERSON"), _Piece("\n" if style != 3 else ", ")]
        pieces.append(_Piece(street, "STREET_ADDRESS"))
        if unit:
            pieces += [_Piece("\n" if style in (0, 1) else ", "), _Piece(unit, "STREET_ADDRESS")]
        pieces.append(_Piece("\n" if style != 3 else ", "))
        # the city and state of an address block go with it or stay: neutral (benchmarks.accuracy.NEUTRAL)
        pieces += [_Piece(city, "LOCATION"), _Piece(", " if style != 2 else " "), _Piece(state, "LOCATION")]
        pieces += [_Piece(" " if style != 2 else "  "), _Piece(zip_, "US_ZIP_CODE")]
        if g.chance(0.25):
            pieces += [
                _Piece(g.choice(("\nUSA", "\nUnited States", "\nPhone: ", "\nTel "))),
            ]
            if pieces[-1].text.startswith(("\nPhone", "\nTel")):
                pieces.append(self.makers["phone"]())
        if lower:
            pieces = [_Piece(_lower(p.text), p.entity, p.pasted) for p in pieces]
        return _assemble(pieces, "address", lower)

    def log(self) -> LabeledMessage:
        return _assemble(self.fill(self.g.choice(_LOGS)), "log", False)


def _lower(s: str) -> str:
    """Lower case that keeps every offset (a few characters grow when lowered: those stay)."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in s)


def _upper(s: str) -> str:
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in s)


def _loosen(s: str, rng: random.Random) -> str:
    """Chat-style punctuation: drop commas and final full stops, apostrophes now and then."""
    s = s.replace(", ", " ") if rng.random() < 0.6 else s
    if rng.random() < 0.3:
        s = s.replace("'", "")
    if s.endswith(".") and rng.random() < 0.7:
        s = s[:-1]
    return s


def _assemble(pieces: list[_Piece], kind: str, lower: bool) -> LabeledMessage:
    text = ""
    spans = []
    for p in pieces:
        if p.entity is not None:
            spans.append(Span(len(text), len(text) + len(p.text), p.entity))
        text += p.text
    return LabeledMessage(text=text, spans=tuple(spans), kind=kind, lower=lower)


#: Message kinds and their shares.
_MIX = (("chat", 0.62), ("survey", 0.14), ("address", 0.09), ("log", 0.15))


def generate(n: int = 2400, seed: int = 20261125) -> list[LabeledMessage]:
    """``n`` labeled messages, the same for the same ``(n, seed)``."""
    corpus = _Corpus(seed)
    kinds, weights = zip(*_MIX, strict=True)
    make = {"chat": corpus.chat, "survey": corpus.survey, "address": corpus.address, "log": corpus.log}
    out = []
    for _ in range(n):
        kind = corpus.g.rng.choices(kinds, weights)[0]
        out.append(make[kind]())
    return out


if __name__ == "__main__":  # a quick look: python -m benchmarks.corpus [N]
    import sys

    for msg in generate(int(sys.argv[1]) if len(sys.argv) > 1 else 20):
        print(repr(msg.text), [(s.entity, s.start, s.end) for s in msg.spans])
