"""USERNAME: logins, which are often made from a person's name (``melisa.matthys``, ``nystromh``).

Found only where structure says the value is a login, never from its look alone:

- after a key that names one, in forms, log key-value pairs and JSON (``Username: stella_99``,
  ``user="melisa.matthys"``, ``"user": "cgiehl"``, ``Benutzername: ...``), or quoted right after
  the word ``user`` (``user 'odosut' (Odo Sutschet) logged out``);
- in authentication log lines: ``Accepted publickey for nystromh from ...``, ``Failed password for
  invalid user jdoe from ...``, ``session opened for user mlafleur``, ``logged in as gal.andrassy``;
- as the actor of an audit line, right after a field separator and before what it did
  (``| audit | dknezevic exported 277 rows``, ``[INFO] jdoe deleted ...``).

Pure numbers (ids), e-mail addresses (the e-mail recognizer's), service accounts (``root``,
``admin``, ``www-data`` ...) and common English words (``premium``) are no login here.
"""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult

from recognizers.custom import RuleRecognizer, _best_non_overlapping
from recognizers.names import Lexicon

__all__ = ["UsernameRecognizer"]

_LOGIN = r"(?P<v>[^\W\d_][\w.-]{1,39})(?![\w@-]|\.\w)"
_KEYS = (
    r"user|user[ _-]?name|username|login|login[ _-]?name|login[ _-]?id|user[ _-]?id|uid|usr|account[ _-]?name|acct"
    r"|handle|nick|nickname|screen[ _-]?name|benutzer|benutzername|usuario|nombre[ _]de[ _]usuario|utilisateur"
    r"|nom[ _]d['’]utilisateur|utente|nome[ _]utente|käyttäjä|käyttäjätunnus|brugernavn|brugerid|användarnamn"
    r"|brukernavn|gebruikersnaam|gebruiker|użytkownik|login[ _]użytkownika|uživatel|felhasználónév|kullanıcı[ _]adı"
    r"|actor|principal|created[ _-]?by|updated[ _-]?by|modified[ _-]?by|assignee|owner|sam[ _-]?account[ _-]?name"
)
#: ``Username: x``, ``user="x"``, ``"user": "x"``, ``user 'x'``.
_KEYED = re.compile(
    rf"(?<![\w.-])[\"']?(?i:{_KEYS})[\"']?(?:[ \t]*+(?::|=|=>)[ \t]*+[\"']?|[ \t]++(?=[\"'])[\"']){_LOGIN}"
)
#: sshd, PAM and web-app authentication lines.
_AUTH = re.compile(
    r"\b(?i:(?:accepted|failed)[ \t]+\w+[ \t]+for(?:[ \t]+invalid[ \t]+user)?|invalid[ \t]+user"
    r"|session[ \t]+(?:opened|closed)[ \t]+for[ \t]+user|logged[ \t]+in[ \t]+as|signed[ \t]+in[ \t]+as"
    rf"|authenticated[ \t]+as|login[ \t]+(?:for|by|of)(?:[ \t]+user)?)[ \t]++{_LOGIN}"
)
_ACTIONS = (
    r"exported|deleted|viewed|downloaded|uploaded|updated|created|changed|modified|accessed|opened|closed|edited"
    r"|removed|added|approved|rejected|granted|revoked|reset|searched|queried|printed|shared|exported|imported"
    r"|logged[ \t]+(?:in|out|on|off)|signed[ \t]+(?:in|out)"
)
#: An audit line's actor: a login right after a field separator (``| audit | dknezevic exported
#: 277 rows``, ``[INFO] jdoe deleted ...``), before what it did.
_ACTOR = re.compile(
    r"(?:^|(?<=[|\]>]))[ \t]*+(?P<v>[a-z][a-z0-9._-]{1,39})(?<![.-])[ \t]++(?:" + _ACTIONS + r")\b",
    re.MULTILINE,
)
#: Service accounts and placeholders: no person behind them.
_NOT_LOGIN = frozenset(
    """root admin administrator system sys daemon nobody guest anonymous anon unknown null none nil true false
    undefined www-data www apache nginx postgres mysql redis service svc api bot test tester demo default
    user users username login ubuntu debian centos ec2-user git jenkins deploy backup operator support""".split()  # noqa: SIM905
)


class UsernameRecognizer(RuleRecognizer):
    """Logins after their key or in authentication log lines (see the module doc)."""

    ENTITY = "USERNAME"
    TRIGGER = re.compile(
        r"(?i:user|login|uid|usr|acct|account|handle|nick|benutzer|usuario|utilisateur|utente|käyttäjä|bruger"
        r"|användar|bruker|gebruik|użytkown|uživatel|felhasználó|kullanıcı|actor|principal|created|updated|modified"
        r"|assignee|owner|invalid|session|logged|signed|authenticated|accepted|failed|screen"
        r"|ed\b|reset)"
    )

    def __init__(self, lexicon: Lexicon) -> None:
        super().__init__(name="UsernameRecognizer")
        self.lex = lexicon

    def find(self, text: str) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        rules = (
            (_KEYED, "login after its key"),
            (_AUTH, "login in an authentication line"),
            (_ACTOR, "login acting in an audit line"),
        )
        for rx, rule in rules:
            for m in rx.finditer(text):
                value = m.group("v").rstrip(".-")
                if not self._plausible(value):
                    continue
                start = m.start("v")
                results.append(self._result(start, start + len(value), 0.7, rule))
        return _best_non_overlapping(results)

    def _plausible(self, value: str) -> bool:
        low = value.lower()
        if len(low) < 2 or low in _NOT_LOGIN:
            return False
        # ``account: premium``, ``user: unknown``: a common word is no login
        return not (low.isalpha() and self.lex.is_common(low) and not self.lex.is_name_word(low))
