"""Co-browse redaction of rrweb event streams (sans-io, on the core API).

rrweb (npm ``rrweb``, ``@rrweb/types``, ``rrweb-snapshot``) records a page as JSON events: a
**full snapshot** (the serialized DOM: nodes with ids, tag names, attributes, text), then
**incremental snapshots** (mutations: texts, attributes, adds, removes; input values; mouse,
scroll and viewport events ...), **meta** events (the page URL) and custom/plugin events.

::

    red = RrwebRedactor(policy)                 # one per destination (Redaction.rrweb)
    session = red.session()                     # one node map per co-browse session
    plan = red.plan(session, events)            # walks the events, updates the node map
    out, audit = await run_plan(plan, detect, cfg.detect_chunk_chars)  # one call (or runs of a large page)

What is scanned, masked or kept (``Cobrowse`` in ``proxy/config.py`` is the policy):

- text nodes (not ``<style>``/``<script>`` content), comments, and every attribute that is not
  structural (``title``, ``alt``, ``placeholder``, ``aria-label``, ``value``, unknown ones ...)
  are scanned like chat text; URLs (``href``, ``src``, the meta event's ``href`` ...) are decoded
  first, path, query and fragment scanned apart; ``mailto:`` is split off before detection,
  a ``tel:`` number is masked whole;
- input values (input events, ``value`` attributes of form controls) are masked whole for the
  configured input types and ``autocomplete`` tokens, and for a node id the map does not know;
  scanned otherwise;
- CSS-like rules (``.account-number: mask``, ``[data-pii]: mask``, ``#order-notes: scan``)
  cover an element and its subtree; the nearest rule wins;
- masked text becomes ``*`` of the same length (rrweb's convention) or a tag; node ids, tree
  shape and event order are unchanged;
- mouse, scroll, viewport, media and selection events pass on a fast path (checked to carry no
  string), style events pass (CSS), canvas events and unknown event kinds or sources are dropped
  (audited): fail closed.

A malformed event raises :class:`~proxy.errors.PayloadError` (the transport closes a WebSocket
with 1007, answers a ``POST`` with 400: nothing of that message is forwarded).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from proxy.config import Cobrowse, Selector, parse_selectors
from proxy.errors import PayloadError
from proxy.policy import AuditEvent, Policy, merge_overlaps
from proxy.redaction.plan import Detect, OnMessage
from recognizers.types import Finding

__all__ = [
    "EventType",
    "IncrementalSource",
    "NodeType",
    "RrwebMessages",
    "RrwebPlan",
    "RrwebRedactor",
    "RrwebSession",
    "Sessions",
    "dumps",
    "loads",
    "run_plan",
]


class EventType:
    DOM_CONTENT_LOADED, LOAD, FULL_SNAPSHOT, INCREMENTAL_SNAPSHOT, META, CUSTOM, PLUGIN = range(7)


class IncrementalSource:
    (MUTATION, MOUSE_MOVE, MOUSE_INTERACTION, SCROLL, VIEWPORT_RESIZE, INPUT, TOUCH_MOVE, MEDIA_INTERACTION,
     STYLE_SHEET_RULE, CANVAS_MUTATION, FONT, LOG, DRAG, STYLE_DECLARATION, SELECTION, ADOPTED_STYLE_SHEET,
     CUSTOM_ELEMENT) = range(17)  # fmt: skip


class NodeType:
    DOCUMENT, DOCUMENT_TYPE, ELEMENT, TEXT, CDATA, COMMENT = range(6)


S = IncrementalSource
#: Names used in metrics and audit reasons (never values).
EVENT_NAMES = {0: "dom_content_loaded", 1: "load", 2: "full_snapshot", 3: "incremental", 4: "meta", 5: "custom",
               6: "plugin"}  # fmt: skip
SOURCE_NAMES = {
    0: "mutation", 1: "mouse_move", 2: "mouse_interaction", 3: "scroll", 4: "viewport_resize", 5: "input",
    6: "touch_move", 7: "media_interaction", 8: "style_sheet_rule", 9: "canvas_mutation", 10: "font", 11: "log",
    12: "drag", 13: "style_declaration", 14: "selection", 15: "adopted_style_sheet", 16: "custom_element",
}  # fmt: skip
#: Sources made of numbers only (ids, coordinates, times): passed once checked to hold no string.
TEXT_FREE = frozenset(
    {
        S.MOUSE_MOVE,
        S.MOUSE_INTERACTION,
        S.SCROLL,
        S.VIEWPORT_RESIZE,
        S.TOUCH_MOVE,
        S.MEDIA_INTERACTION,
        S.DRAG,
        S.SELECTION,
    }
)
#: CSS rules, declarations, adopted sheets, fonts, custom element names: style, not content.
STYLE = frozenset({S.STYLE_SHEET_RULE, S.STYLE_DECLARATION, S.ADOPTED_STYLE_SHEET, S.FONT, S.CUSTOM_ELEMENT})

#: Attributes that structure or style a page and carry no visitor content: passed as they are.
#: Every other attribute (title, alt, placeholder, aria-label, value, unknown ones) is scanned.
STRUCTURAL = frozenset(
    {
        "class",
        "id",
        "name",
        "type",
        "style",
        "rel",
        "role",
        "lang",
        "dir",
        "tabindex",
        "width",
        "height",
        "for",
        "autocomplete",
        "hidden",
        "disabled",
        "checked",
        "selected",
        "readonly",
        "required",
        "multiple",
        "maxlength",
        "minlength",
        "size",
        "rows",
        "cols",
        "colspan",
        "rowspan",
        "target",
        "method",
        "enctype",
        "charset",
        "media",
        "sizes",
        "crossorigin",
        "integrity",
        "referrerpolicy",
        "loading",
        "decoding",
        "async",
        "defer",
        "http-equiv",
        "viewbox",
        "xmlns",
        "xmlns:xlink",
        "d",
        "fill",
        "stroke",
        "stroke-width",
        "transform",
        "points",
        "x",
        "y",
        "x1",
        "x2",
        "y1",
        "y2",
        "cx",
        "cy",
        "r",
        "rx",
        "ry",
        "preserveaspectratio",
        "version",
        "inputmode",
        "min",
        "max",
        "step",
        "spellcheck",
        "draggable",
        "contenteditable",
        "aria-hidden",
        "aria-expanded",
        "aria-controls",
        "aria-labelledby",
        "aria-describedby",
        "aria-live",
        "aria-current",
        "aria-selected",
        "aria-checked",
        "aria-disabled",
        "aria-haspopup",
        "aria-modal",
        "aria-invalid",
        "aria-required",
        "slot",
        "part",
        "is",
        "novalidate",
        "autofocus",
        "open",
        "start",
        "reversed",
        "scope",
        "accept",
        "kind",
        "srclang",
        "default",
        "controls",
        "autoplay",
        "loop",
        "muted",
        "playsinline",
        "preload",
        "frameborder",
        "allow",
        "allowfullscreen",
        "sandbox",
        "scrolling",
        "border",
        "cellpadding",
        "cellspacing",
        "align",
        "valign",
        "bgcolor",
        "color",
        "clip-path",
        "opacity",
        "font-size",
        "font-family",
        "text-anchor",
        "dominant-baseline",
        "gradientunits",
        "offset",
        "stop-color",
        "stop-opacity",
        "fill-rule",
        "clip-rule",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-dasharray",
        "stroke-miterlimit",
        "focusable",
        "shape-rendering",
        "vector-effect",
        "xml:space",
        "_csstext",
    }
)
#: Attributes holding a URL: decoded, then path, query and fragment scanned apart.
URL_ATTRS = frozenset({"href", "src", "action", "formaction", "poster", "cite", "background", "xlink:href", "data"})
#: rrweb's own attributes of sizes, scroll offsets, media state and dialogs (``rr_src``, an
#: iframe's URL, is scanned as a URL; other ``rr_`` names are scanned like any attribute).
RRWEB_ATTRS = frozenset(
    {
        "rr_width",
        "rr_height",
        "rr_scrollleft",
        "rr_scrolltop",
        "rr_mediastate",
        "rr_mediacurrenttime",
        "rr_mediaplaybackrate",
        "rr_mediamuted",
        "rr_medialoop",
        "rr_mediavolume",
        "rr_open_mode",
    }
)
#: rrweb's own attributes that carry pixels, not text: dropped (cannot be scanned).
OPAQUE_ATTRS = frozenset({"rr_dataurl"})
#: Elements whose ``value`` is a visitor's input.
FORM_CONTROLS = frozenset({"input", "textarea", "select"})
#: Input types whose value is chosen, not typed (no typing guard).
UNTYPED = frozenset({"checkbox", "radio", "range", "color", "submit", "button", "reset", "image", "file"})
#: Elements whose text children are code or style, not content.
CODE = frozenset({"style", "script"})
#: How deep a DOM may nest in one serialized node (each level is two JSON levels).
MAX_DOM_DEPTH = 400
#: How many parent links a mode look-up follows before giving up (and masking).
MAX_WALK = 512
MASK_TAG = "<MASKED>"
_DIGIT = re.compile(r"\d")
#: The word at the end of a value that does not end in a space or punctuation (e-mail and URL
#: characters are part of a word: a half-typed address is one).
_LAST_WORD = re.compile(r"[^\s,;!?()\[\]{}\"]+$")

Mode = str  # "mask" | "scan" | "keep"


def loads(data: bytes | str) -> Any:
    """rrweb JSON: RFC 8259 (no NaN/Infinity), nested at most as deep as a DOM of
    ``MAX_DOM_DEPTH`` levels. Errors name the place, never the content."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise PayloadError(f"invalid utf-8 at byte {exc.start}") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise PayloadError("JSON nested too deep") from None
    except ValueError:
        raise PayloadError("malformed JSON: a number out of range") from None


def _no_constant(name: str) -> Any:
    raise PayloadError("malformed JSON: NaN and Infinity are not valid JSON")


def dumps(value: Any) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadError("malformed JSON: a \\u escape of a lone surrogate") from None
    except ValueError:
        raise PayloadError("malformed JSON: a number out of range") from None


# ---- the node map --------------------------------------------------------------------------------
#: The shared empty ``match`` of a node nothing is recorded for (never written to).
_NO_MATCH: dict[str, str] = {}


class _Node:
    """What the map keeps of one node: enough to decide, never its text or values."""

    __slots__ = ("autocomplete", "code", "editable", "match", "own", "parent", "tag", "text_node")

    def __init__(self, parent: int | None, tag: str, text_node: bool, code: bool) -> None:
        self.parent = parent
        self.tag = tag
        self.text_node = text_node
        #: A text node inside <style>/<script>.
        self.code = code
        #: contenteditable: text typed into it arrives as text mutations (the typing guard applies).
        self.editable: bool | None = None
        #: The element's own rule (mask/scan/keep) or None.
        self.own: Mode | None = None
        #: What decisions test: a form control's type and autocomplete; ids, classes and
        #: attributes only as far as some rule tests them.
        self.match: dict[str, str] = _NO_MATCH
        self.autocomplete: tuple[str, ...] = ()


class RrwebSession:
    """One co-browse session's node map: id -> what the redactor needs to know about the node.
    Bounded: past ``max_nodes`` new nodes are not learnt (their inputs are masked whole)."""

    def __init__(self, max_nodes: int = 50_000) -> None:
        self.nodes: dict[int, _Node] = {}
        self.max_nodes = max_nodes
        self.overflowed = 0
        self.last_used = time.monotonic()
        #: Ids learnt by the current add (the adds waiting for them are processed next).
        self._learnt: list[int] | None = None

    def put(self, node_id: int, node: _Node) -> None:
        if node_id not in self.nodes and len(self.nodes) >= self.max_nodes:
            self.overflowed += 1
            return
        self.nodes[node_id] = node
        if self._learnt is not None:
            self._learnt.append(node_id)


class Sessions:
    """Node maps of ``POST`` sessions by id: at most ``max_sessions`` (least recently used
    dropped first), each forgotten after ``idle`` seconds without a batch."""

    def __init__(self, max_sessions: int, max_nodes: int, idle: float, clock: Callable[[], float] = time.monotonic,
                 max_total_nodes: int | None = None) -> None:  # fmt: skip
        self._maps: OrderedDict[str, RrwebSession] = OrderedDict()
        self.max_sessions = max_sessions
        self.max_total_nodes = max_total_nodes
        self.max_nodes = max_nodes
        self.idle = idle
        self.clock = clock
        self.evicted = 0
        self.expired = 0

    def __len__(self) -> int:
        return len(self._maps)

    def get(self, key: str | None) -> RrwebSession:
        """The session named ``key`` (a new one for None: a batch without a session learns only
        from itself)."""
        now = self.clock()
        self.expire(now)
        if self.max_total_nodes is not None:
            total = sum(len(s.nodes) for s in self._maps.values())
            while total > self.max_total_nodes and self._maps:
                _, gone = self._maps.popitem(last=False)
                total -= len(gone.nodes)
                self.evicted += 1
        if key is None:
            return RrwebSession(self.max_nodes)
        sess = self._maps.get(key)
        if sess is None:
            while len(self._maps) >= self.max_sessions:
                self._maps.popitem(last=False)
                self.evicted += 1
            sess = self._maps[key] = RrwebSession(self.max_nodes)
        else:
            self._maps.move_to_end(key)
        sess.last_used = now
        return sess

    def expire(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        while self._maps:
            key, sess = next(iter(self._maps.items()))
            if now - sess.last_used < self.idle:
                break
            del self._maps[key]
            self.expired += 1

    def end(self, key: str) -> None:
        self._maps.pop(key, None)

    @property
    def nodes(self) -> int:
        return sum(len(s.nodes) for s in self._maps.values())


# ---- the plan ------------------------------------------------------------------------------------
@dataclass
class RrwebPlan:
    """Texts to scan in a batch of events, and how to put their redacted forms back. ``finish``
    returns ``(events, audit)``: the events that may leave (dropped ones removed), in order.

    A text that occurs several times (a button label, "Delivered" in every row of a table) goes
    to detection once; each occurrence keeps its own audit record."""

    red: RrwebRedactor
    events: list[Any]
    texts: list[str] = field(default_factory=list)
    #: Audit paths of each text's occurrences.
    paths: list[list[str]] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)
    fixups: list[Callable[[list[str]], None]] = field(default_factory=list)
    #: (event kind, action) -> count, for the transport's metrics.
    stats: dict[tuple[str, str], int] = field(default_factory=dict)
    dropped: set[int] = field(default_factory=set)
    _index: dict[str, int] = field(default_factory=dict)

    def slot(self, text: str, path: str) -> int:
        at = self._index.get(text)
        if at is not None:
            self.paths[at].append(path)
            return at
        self.texts.append(text)
        self.paths.append([path])
        at = self._index[text] = len(self.texts) - 1
        return at

    async def resolve(self, findings: Sequence[Sequence[Finding]]) -> None:
        """Co-browse resolves no pseudonym (the config refuses ``pseudonym`` on an rrweb
        route's destination)."""

    def count(self, kind: str, action: str) -> None:
        key = (kind, action)
        self.stats[key] = self.stats.get(key, 0) + 1

    def chunks(self, max_chars: int) -> list[list[str]]:
        """The texts in runs of at most ``max_chars`` characters (a longer text alone)."""
        out: list[list[str]] = []
        size = max_chars
        for t in self.texts:
            if size + len(t) > max_chars:
                out.append([])
                size = 0
            out[-1].append(t)
            size += len(t)
        return out

    def finish(self, findings: Sequence[Sequence[Finding]]) -> tuple[list[Any], list[AuditEvent]]:
        if len(findings) != len(self.texts):
            raise ValueError("findings do not match the plan's texts")
        audit = list(self.audit)
        out: list[str] = []
        for text, paths, found in zip(self.texts, self.paths, findings, strict=True):
            red, evs = self.red.redact_found(text, found, paths[0])
            out.append(red)
            audit.extend(evs)
            for other in paths[1:]:
                audit.extend(dataclasses.replace(e, path=other) for e in evs)
        for fix in self.fixups:
            fix(out)
        return [e for i, e in enumerate(self.events) if i not in self.dropped], audit


async def run_plan(plan: RrwebPlan, detect: Detect, max_chars: int = 0) -> tuple[list[Any], list[AuditEvent]]:
    """:func:`~proxy.redaction.plan.run` for an rrweb plan: one detection call for all its texts,
    or, when they exceed ``max_chars`` characters (a full snapshot of a large page), one call per
    run of ``max_chars``, one after the other: each run gets the detector's per-payload deadline
    and budget, so a large page is redacted in pieces instead of failing on one deadline.
    Detection errors propagate unchanged (the transport fails closed on them)."""
    if not plan.texts:
        return plan.finish([])
    if max_chars <= 0 or sum(len(t) for t in plan.texts) <= max_chars:
        return plan.finish(await detect(plan.texts))
    findings: list[list[Finding]] = []
    for chunk in plan.chunks(max_chars):
        findings.extend(await detect(chunk))
    return plan.finish(findings)


def _has_text(value: Any) -> bool:
    """Whether a JSON value holds a string anywhere (iterative)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            return True
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


def _alnum(text: str) -> bool:
    return any(c.isalnum() for c in text)


class RrwebRedactor:
    """One destination's rrweb redaction (its ``cobrowse`` policy, its entity operators)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.cfg: Cobrowse = policy.dest.cobrowse
        self.rules: list[tuple[tuple[int, int, int], int, Selector, Mode]] = []
        order = {"keep": 0, "scan": 1, "mask": 2}
        for text, action in self.cfg.rules.items():
            for sel in parse_selectors(text):
                self.rules.append((sel.specificity, order[action], sel, action))
        # most specific first; on a tie the stricter action
        self.rules.sort(key=lambda r: (r[0], r[1]), reverse=True)
        sels = [r[2] for r in self.rules]
        self.rule_ids = frozenset(sel.id for sel in sels if sel.id)
        self.rule_classes = frozenset(c for sel in sels for c in sel.classes) | frozenset(
            v for sel in sels for n, v in sel.attrs if n == "class" and v
        )
        self.id_presence = any(n == "id" for sel in sels for n, _ in sel.attrs)
        self.rule_attrs = frozenset(
            {n for sel in sels for n, _ in sel.attrs}
            | ({"id"} if self.rule_ids else set())
            | ({"class"} if self.rule_classes else set())
        )
        self.mask_types = frozenset(self.cfg.mask_input_types)
        self.mask_autocomplete = frozenset(self.cfg.mask_autocomplete)
        self.stars = self.cfg.mask_with == "stars"
        self.default: Mode = self.cfg.text

    def session(self) -> RrwebSession:
        return RrwebSession(self.cfg.sessions.max_nodes)

    def sessions(self) -> Sessions:
        s = self.cfg.sessions
        return Sessions(s.max_sessions, s.max_nodes, s.idle_seconds, max_total_nodes=s.max_total_nodes)

    # ---- masking -------------------------------------------------------------------------------
    def mask(self, text: str) -> str:
        return "*" * len(text) if self.stars else (MASK_TAG if text else text)

    def guard(self, value: str) -> str:
        """A scanned input value as it may leave while typed: every digit masked, and the last
        word too unless the value ends with a space or punctuation (the visitor is still typing
        it). Lengths are kept."""
        out = _DIGIT.sub("*", value)
        m = _LAST_WORD.search(out)
        if m is not None:
            out = out[: m.start()] + "*" * (m.end() - m.start())
        return out

    def _guarded(self, obj: dict[str, Any], key: str) -> Callable[[list[str]], None]:
        """A fixup (run after the findings are applied) that puts ``obj[key]`` through :meth:`guard`."""

        def fix(_out: list[str]) -> None:
            obj[key] = self.guard(obj[key])

        return fix

    def redact_found(self, text: str, findings: Sequence[Finding], path: str) -> tuple[str, list[AuditEvent]]:
        if not self.stars:
            return self.policy.redact_text(text, findings, path)
        spans = merge_overlaps([f for f in findings if not self.policy.allowed(text[f.start : f.end])])
        out = text
        for f in reversed(spans):
            out = out[: f.start] + "*" * (f.end - f.start) + out[f.end :]
        return out, [AuditEvent(path, "mask", f.entity, f.score, f.recognizer) for f in spans]

    # ---- rules ---------------------------------------------------------------------------------
    def _own_rule(self, node: _Node) -> Mode | None:
        m = node.match
        classes = m.get("class", "").split() if "class" in m else ()
        for _, _, sel, action in self.rules:
            if sel.tag is not None and sel.tag != node.tag:
                continue
            if sel.id is not None and m.get("id") != sel.id:
                continue
            if sel.classes and not all(c in classes for c in sel.classes):
                continue
            if sel.attrs and not all(
                (n in m) if v is None else (m.get(n) == v if n != "class" else v in classes) for n, v in sel.attrs
            ):
                continue
            return action
        return None

    def _learn(self, node: _Node, attrs: dict[str, Any]) -> None:
        """Record what decisions need (input type and autocomplete of form controls; the ids,
        classes and attributes some rule tests, nothing else: the map stays small), then the
        element's own rule."""
        for k, v in attrs.items():
            low = k.lower()
            if low == "contenteditable":
                node.editable = None if v is None else str(v).lower() not in ("false", "inherit")
                continue
            if low not in self.rule_attrs and not (low in ("type", "autocomplete") and node.tag in FORM_CONTROLS):
                continue
            if node.match is _NO_MATCH:
                node.match = {}
            if v is None:
                node.match.pop(low, None)
                continue
            if v is True:
                sv = ""
            elif isinstance(v, str | int | float) and not isinstance(v, bool):
                sv = str(v)
            else:
                continue
            if low in ("type", "autocomplete"):
                sv = sv.lower()
            elif low == "class":
                sv = " ".join(c for c in sv.split() if c in self.rule_classes)
            elif low == "id" and not self.id_presence and sv not in self.rule_ids:
                node.match.pop("id", None)
                continue
            node.match[low] = sv
        node.autocomplete = tuple(node.match.get("autocomplete", "").split())
        node.own = self._own_rule(node) if self.rules else None

    def mode_of(self, sess: RrwebSession, node_id: int | None) -> Mode:
        """The nearest rule above (and at) ``node_id``, else the default; ``mask`` when the chain
        reaches a node the map does not know (fail closed)."""
        if node_id is None:
            return self.default
        n = sess.nodes.get(node_id)
        for _ in range(MAX_WALK):
            if n is None:
                return "mask"
            if n.own is not None:
                return n.own
            if n.parent is None:
                return self.default
            n = sess.nodes.get(n.parent)
        return "mask"

    def editable(self, sess: RrwebSession, node_id: int | None) -> bool:
        """Whether ``node_id`` is inside a contenteditable element (the nearest one that says)."""
        n = sess.nodes.get(node_id) if node_id is not None else None
        for _ in range(MAX_WALK):
            if n is None:
                return False
            if n.editable is not None:
                return n.editable
            n = sess.nodes.get(n.parent) if n.parent is not None else None
        return False

    def value_mode(self, sess: RrwebSession, node_id: int, node: _Node | None) -> tuple[Mode, str]:
        """How an input value of ``node`` is treated, and why (for the audit record)."""
        if node is None:
            return "mask", "unknown node"
        itype = node.match.get("type", "")
        if itype == "password":
            return "mask", "password"
        if node.own is not None:
            return node.own, "rule"
        if node.tag == "input" and itype in self.mask_types:
            return "mask", "input type"
        if any(t in self.mask_autocomplete for t in node.autocomplete):
            return "mask", "autocomplete"
        return self.mode_of(sess, node.parent), "default"

    # ---- the walk ------------------------------------------------------------------------------
    def plan(self, sess: RrwebSession, events: list[Any]) -> RrwebPlan:
        """Walk ``events`` (parsed JSON), updating ``sess``; raises PayloadError on a malformed one."""
        sess.last_used = time.monotonic()
        plan = RrwebPlan(self, events)
        for i, ev in enumerate(events):
            try:
                self._event(plan, sess, i, ev)
            except PayloadError as exc:
                plan.audit.append(AuditEvent("rrweb.event", "drop", reason="malformed event"))
                raise PayloadError(f"event {i}: {exc.message}") from None
            except (KeyError, TypeError, AttributeError, ValueError, IndexError):
                plan.audit.append(AuditEvent("rrweb.event", "drop", reason="malformed event"))
                raise PayloadError(f"event {i}: not an rrweb event of a known shape") from None
        return plan

    def _drop(self, plan: RrwebPlan, i: int, kind: str, reason: str) -> None:
        plan.dropped.add(i)
        plan.count(kind, "dropped")
        plan.audit.append(AuditEvent("rrweb.event", "drop", reason=f"{kind}: {reason}"))

    def _event(self, plan: RrwebPlan, sess: RrwebSession, i: int, ev: Any) -> None:
        if not isinstance(ev, dict) or type(ev.get("type")) is not int:
            raise PayloadError("an event is an object with an integer type")
        ts = ev.get("timestamp")
        if ts is not None and (type(ts) not in (int, float) or not math.isfinite(ts)):
            raise PayloadError("timestamp is not a number")
        for k in [k for k in ev if k not in ("type", "data", "timestamp", "delay")]:
            del ev[k]  # nothing but rrweb's own keys leaves
            plan.audit.append(AuditEvent("rrweb.event", "drop", reason="unknown key"))
        et = ev["type"]
        data = ev.get("data")
        if et == EventType.INCREMENTAL_SNAPSHOT:
            self._incremental(plan, sess, i, _obj(data))
        elif et == EventType.FULL_SNAPSHOT:
            data = _obj(data)
            sess.nodes.clear()  # a full snapshot describes the whole document again
            node = _obj(data["node"])
            self._node(plan, sess, node, None, self.default, False, 0)
            if _has_text(data.get("initialOffset")):
                raise PayloadError("initialOffset holds text")
            plan.count("full_snapshot", "redacted")
        elif et == EventType.META:
            data = _obj(data)
            for k in list(data):
                v = data[k]
                if k == "href" and isinstance(v, str):
                    self._url(plan, v, self.default, "rrweb.meta.href", _setter(data, k))
                elif isinstance(v, str):
                    self._scan_leaves(plan, data, k, "rrweb.meta")
            plan.count("meta", "redacted")
        elif et in (EventType.DOM_CONTENT_LOADED, EventType.LOAD):
            if _has_text(data):
                self._scan_leaves(plan, ev, "data", "rrweb." + EVENT_NAMES[et])
                plan.count(EVENT_NAMES[et], "redacted")
            else:
                plan.count(EVENT_NAMES[et], "passed")
        elif et in (EventType.CUSTOM, EventType.PLUGIN):
            # developer-defined payloads: every string in them is scanned like chat text
            self._scan_leaves(plan, ev, "data", "rrweb." + EVENT_NAMES[et])
            plan.count(EVENT_NAMES[et], "redacted")
        else:
            self._drop(plan, i, f"event type {et}", "unknown event type")

    def _incremental(self, plan: RrwebPlan, sess: RrwebSession, i: int, data: dict[str, Any]) -> None:
        src = data.get("source")
        if type(src) is not int:
            raise PayloadError("an incremental snapshot has an integer source")
        if src in TEXT_FREE:
            if _has_text(data):
                self._drop(plan, i, SOURCE_NAMES[src], "text where rrweb sends numbers")
            else:
                plan.count(SOURCE_NAMES[src], "passed")
        elif src == S.INPUT:
            self._input(plan, sess, data)
        elif src == S.MUTATION:
            self._mutation(plan, sess, data)
            plan.count("mutation", "redacted")
        elif src in STYLE:
            plan.count(SOURCE_NAMES[src], "passed")
        elif src == S.LOG:
            self._scan_leaves(plan, data, None, "rrweb.log")
            plan.count("log", "redacted")
        elif src == S.CANVAS_MUTATION:
            self._drop(plan, i, "canvas_mutation", "canvas drawing cannot be scanned")
        else:
            self._drop(plan, i, f"source {src}", "unknown incremental source")

    # ---- inputs --------------------------------------------------------------------------------
    def _input(self, plan: RrwebPlan, sess: RrwebSession, data: dict[str, Any]) -> None:
        node_id = _int(data.get("id"))
        text = data.get("text")
        if not isinstance(text, str):
            raise PayloadError("an input event's text is a string")
        for k in [k for k in data if k not in ("source", "id", "text", "isChecked", "userTriggered")]:
            del data[k]
        if "isChecked" in data and not isinstance(data["isChecked"], bool):
            raise PayloadError("isChecked is a boolean")
        node = sess.nodes.get(node_id)
        mode, why = self.value_mode(sess, node_id, node)
        self._value(plan, data, "text", text, mode, "rrweb.input", why)
        typed = node is not None and (
            node.tag == "textarea" or (node.tag == "input" and node.match.get("type", "") not in UNTYPED)
        )
        if mode == "scan" and typed and self.cfg.typing_guard and text:
            # rrweb sends the whole value at every key: a half-typed card number or address is no
            # finding yet. Digits, and the word still being typed, are masked whatever is found.
            plan.fixups.append(self._guarded(data, "text"))
            plan.audit.append(AuditEvent("rrweb.input", "mask", reason="typing guard"))
        plan.count("input", "masked" if mode == "mask" else "redacted")

    def _value(self, plan: RrwebPlan, obj: dict[str, Any], key: str, text: str, mode: Mode, path: str,
               why: str = "rule") -> None:  # fmt: skip
        """Apply ``mode`` to ``obj[key] == text``: keep, mask whole (audited), or scan."""
        if mode == "keep" or not text:
            return
        if mode == "mask":
            obj[key] = self.mask(text)
            plan.audit.append(AuditEvent(path, "mask", reason=why))
            return
        if not _alnum(text):
            return
        at = plan.slot(text, path)
        plan.fixups.append(lambda out: obj.__setitem__(key, out[at]))

    # ---- nodes ---------------------------------------------------------------------------------
    def _node(self, plan: RrwebPlan, sess: RrwebSession, node: dict[str, Any], parent: int | None,
              inherited: Mode, in_code: bool, depth: int) -> None:  # fmt: skip
        if depth > MAX_DOM_DEPTH:
            raise PayloadError(f"DOM nested deeper than {MAX_DOM_DEPTH} levels")
        node_id = _int(node["id"])
        nt = node["type"]
        if nt == NodeType.ELEMENT:
            tag = node["tagName"]
            if not isinstance(tag, str):
                raise PayloadError("tagName is a string")
            info = _Node(parent, tag.lower(), False, False)
            attrs = _obj(node.get("attributes", {}))
            self._learn(info, attrs)
            sess.put(node_id, info)
            mode = info.own or inherited
            self._attributes(plan, sess, info, node_id, attrs, mode)
            code = info.tag in CODE
            for child in _list(node.get("childNodes", [])):
                self._node(plan, sess, _obj(child), node_id, mode, code, depth + 1)
        elif nt in (NodeType.TEXT, NodeType.COMMENT):
            code = in_code or bool(node.get("isStyle"))
            sess.put(node_id, _Node(parent, "#text" if nt == NodeType.TEXT else "#comment", True, code))
            text = node.get("textContent", "")
            if not isinstance(text, str):
                raise PayloadError("textContent is a string")
            if not code:
                path = "rrweb.text" if nt == NodeType.TEXT else "rrweb.comment"
                self._value(plan, node, "textContent", text, inherited, path)
        elif nt == NodeType.DOCUMENT:
            sess.put(node_id, _Node(parent, "#document", False, False))
            for child in _list(node.get("childNodes", [])):
                self._node(plan, sess, _obj(child), node_id, inherited, False, depth + 1)
        elif nt in (NodeType.DOCUMENT_TYPE, NodeType.CDATA):
            sess.put(node_id, _Node(parent, "#other", True, True))
            if nt == NodeType.CDATA and node.get("textContent"):
                self._value(plan, node, "textContent", str(node["textContent"]), inherited, "rrweb.cdata")
        else:
            raise PayloadError("unknown node type")

    def _attributes(self, plan: RrwebPlan, sess: RrwebSession, info: _Node, node_id: int | None,
                    attrs: dict[str, Any], mode: Mode) -> None:  # fmt: skip
        for name in list(attrs):
            value = attrs[name]
            low = name.lower()
            if low in OPAQUE_ATTRS:
                del attrs[name]
                plan.audit.append(AuditEvent("rrweb.attr", "drop", reason="canvas pixels cannot be scanned"))
                continue
            if not isinstance(value, str) or low in STRUCTURAL or low in RRWEB_ATTRS:
                continue  # numbers, booleans, null, style objects; structure and rrweb's own
            path = "rrweb.attr." + (low if not low.startswith("data-") else "data-*")
            if low == "value" and info.tag in FORM_CONTROLS:
                vmode, why = self.value_mode(sess, node_id if node_id is not None else -1, info)
                self._value(plan, attrs, name, value, vmode, "rrweb.input", why)
            elif low in URL_ATTRS or low in ("srcset", "rr_src"):
                self._url(plan, value, mode, path, _setter(attrs, name))
            elif low.startswith("data-") and mode == "scan":
                self._value(plan, attrs, name, value, self.cfg.data_attributes, path)
            else:
                self._value(plan, attrs, name, value, mode, path)

    # ---- mutations -----------------------------------------------------------------------------
    def _mutation(self, plan: RrwebPlan, sess: RrwebSession, data: dict[str, Any]) -> None:
        for k in [k for k in data if k not in ("source", "texts", "attributes", "removes", "adds", "isAttachIframe")]:
            del data[k]
        # the order the replayer applies them in: removes, adds, texts, attributes
        for rm in _list(data.get("removes", [])):
            sess.nodes.pop(_int(_obj(rm)["id"]), None)
        self._adds(plan, sess, [_obj(a) for a in _list(data.get("adds", []))])
        for t in _list(data.get("texts", [])):
            t = _obj(t)
            node_id = _int(t["id"])
            value = t.get("value")
            if value is None:
                continue
            if not isinstance(value, str):
                raise PayloadError("a text mutation's value is a string or null")
            node = sess.nodes.get(node_id)
            if node is None:
                self._value(plan, t, "value", value, "mask", "rrweb.text", "unknown node")
            elif not node.code:
                mode = self.mode_of(sess, node.parent)
                self._value(plan, t, "value", value, mode, "rrweb.text")
                if mode == "scan" and self.cfg.typing_guard and self.editable(sess, node.parent):
                    # typed into a contenteditable element: sent at every key, like an input value
                    plan.fixups.append(self._guarded(t, "value"))
                    plan.audit.append(AuditEvent("rrweb.text", "mask", reason="typing guard"))
        for a in _list(data.get("attributes", [])):
            a = _obj(a)
            node_id = _int(a["id"])
            attrs = _obj(a["attributes"])
            node = sess.nodes.get(node_id)
            if node is None:
                for name in list(attrs):
                    if isinstance(attrs[name], str):
                        self._value(plan, attrs, name, attrs[name], "mask", "rrweb.attr", "unknown node")
                    elif _has_text(attrs[name]) and name.lower() != "style":
                        del attrs[name]
                continue
            self._learn(node, attrs)
            self._attributes(plan, sess, node, node_id, attrs, self.mode_of(sess, node_id))

    def _adds(self, plan: RrwebPlan, sess: RrwebSession, adds: list[dict[str, Any]]) -> None:
        """Adds whose parent is known (or arrives in this very mutation) inherit its mode; an
        add whose parent never becomes known is masked whole."""
        waiting: dict[int, list[dict[str, Any]]] = {}
        ready: deque[dict[str, Any]] = deque()
        for add in adds:
            pid = _int(add["parentId"])
            (ready if pid in sess.nodes else waiting.setdefault(pid, [])).append(add)
        orphans = False
        while ready or waiting:
            if not ready:
                # whatever still waits has a parent nobody knows: fail closed
                ready = deque(a for group in waiting.values() for a in group)
                waiting = {}
                orphans = True
            add = ready.popleft()
            pid = _int(add["parentId"])
            parent = sess.nodes.get(pid)
            if orphans and parent is None:
                mode, code = "mask", False
                plan.audit.append(AuditEvent("rrweb.add", "mask", reason="unknown parent"))
            else:
                mode = self.mode_of(sess, pid)
                code = parent is not None and parent.tag in CODE
            sess._learnt = []
            try:
                self._node(plan, sess, _obj(add["node"]), pid, mode, code, 0)
                learnt = sess._learnt
            finally:
                sess._learnt = None
            for nid in learnt:
                ready.extend(waiting.pop(nid, ()))

    # ---- URLs and free payloads ----------------------------------------------------------------
    def _url(self, plan: RrwebPlan, value: str, mode: Mode, path: str, put: Callable[[str], None]) -> None:
        if mode == "keep" or not value.strip():
            return
        low = value.lstrip().lower()
        if low.startswith("data:image/"):
            return  # inline pixels (an icon): no text to scan
        if low.startswith("tel:") or low.startswith("sms:"):
            cut = value.index(":") + 1
            put(value[:cut] + self.mask(value[cut:]))
            plan.audit.append(AuditEvent(path, "mask", "PHONE_NUMBER", reason="tel link"))
            return
        if low.startswith("data:") or mode == "mask":
            put(self.mask(value))
            plan.audit.append(AuditEvent(path, "mask", reason="masked element" if mode == "mask" else "data url"))
            return
        if low.startswith("mailto:"):
            cut = value.index(":") + 1
            text = unquote(value[cut:])
            if _alnum(text):
                at = plan.slot(text, path)
                plan.fixups.append(lambda out: put(value[:cut] + out[at]) if out[at] != text else None)
            return
        try:
            parts = urlsplit(value)
        except ValueError:
            at = plan.slot(value, path)
            plan.fixups.append(lambda out: put(out[at]) if out[at] != value else None)
            return
        if parts.scheme.lower() == "javascript":
            at = plan.slot(value, path)
            plan.fixups.append(lambda out: put(out[at]) if out[at] != value else None)
            return
        # the decoded path, each query key and value, the decoded fragment: scanned apart
        segs: list[tuple[str, int]] = []
        p = unquote(parts.path)
        if _alnum(p):
            segs.append(("path", plan.slot(p, path)))
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        q_at = []
        for k, v in pairs:
            q_at.append((plan.slot(k, path) if _alnum(k) else -1, plan.slot(v, path) if _alnum(v) else -1))
        frag = unquote(parts.fragment)
        if _alnum(frag):
            segs.append(("fragment", plan.slot(frag, path)))
        # userinfo (user:password@host) never leaves
        netloc = parts.netloc.rsplit("@", 1)[-1] if "@" in parts.netloc else parts.netloc
        if netloc != parts.netloc:
            put(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))
            plan.audit.append(AuditEvent(path, "drop", reason="url userinfo"))
        if not segs and not any(a >= 0 or b >= 0 for a, b in q_at):
            return

        def fix(out: list[str]) -> None:
            new_path, new_frag = parts.path, parts.fragment
            changed = netloc != parts.netloc
            for what, at in segs:
                if out[at] != plan.texts[at]:
                    changed = True
                    if what == "path":
                        new_path = quote(out[at], safe="/:@!$&'()*+,;=~-._")
                    else:
                        new_frag = quote(out[at], safe="/:@!$&'()*+,;=~-._?")
            new_pairs = []
            q_changed = False
            for (k, v), (ka, va) in zip(pairs, q_at, strict=True):
                nk = out[ka] if ka >= 0 else k
                nv = out[va] if va >= 0 else v
                q_changed |= nk != k or nv != v
                new_pairs.append((nk, nv))
            query = urlencode(new_pairs, safe="*<>") if q_changed else parts.query
            if changed or q_changed:
                put(urlunsplit((parts.scheme, netloc, new_path, query, new_frag)))

        plan.fixups.append(fix)

    def _scan_leaves(self, plan: RrwebPlan, container: Any, key: Any, path: str) -> None:
        """Every string under ``container[key]`` (the container itself when ``key`` is None)
        becomes a segment; keys are kept (developer-defined names)."""
        stack: list[tuple[Any, Any]] = []
        if key is None:
            stack.extend((container, k) for k in (container if isinstance(container, dict) else range(len(container))))
        else:
            stack.append((container, key))
        while stack:
            obj, k = stack.pop()
            v = obj[k]
            if isinstance(v, str):
                self._value(plan, obj, k, v, self.default, path)
            elif isinstance(v, dict):
                stack.extend((v, kk) for kk in v)
            elif isinstance(v, list):
                stack.extend((v, j) for j in range(len(v)))


def _setter(obj: dict[str, Any], key: str) -> Callable[[str], None]:
    def put(value: str) -> None:
        obj[key] = value

    return put


def _obj(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise PayloadError("expected an object")
    return v


def _list(v: Any) -> list[Any]:
    if not isinstance(v, list):
        raise PayloadError("expected an array")
    return v


def _int(v: Any) -> int:
    if type(v) is not int:
        raise PayloadError("a node id is an integer")
    return v


def _events_of(value: Any) -> tuple[list[Any], bool]:
    """A message: one event object, or an array of them. (events, single?)"""
    if isinstance(value, dict):
        return [value], True
    if isinstance(value, list):
        return value, False
    raise PayloadError("a message is an rrweb event or an array of events")


class RrwebMessages:
    """The stream redactor of one co-browse WebSocket (one session, its node map dropped with
    the socket): one whole text message per ``feed``; an empty answer means every event of the
    message was dropped (nothing to send)."""

    def __init__(self, red: RrwebRedactor, detect: Detect, on_message: OnMessage,
                 on_stats: Callable[[dict[tuple[str, str], int]], None] | None = None,
                 max_chars: int = 0) -> None:  # fmt: skip
        self.max_chars = max_chars
        self.red = red
        self.session = red.session()
        self.detect = detect
        self.on_message = on_message
        self.on_stats = on_stats

    @property
    def held(self) -> int:
        return 0

    async def feed(self, chunk: bytes) -> bytes:
        try:
            events, single = _events_of(loads(chunk))
            plan = self.red.plan(self.session, events)
        except PayloadError:
            self.on_message([AuditEvent("rrweb.message", "drop", reason="malformed event")])
            raise
        out, audit = await run_plan(plan, self.detect, self.max_chars)
        body = b"" if not out else dumps(out[0] if single else out)
        self.on_message(audit)
        if self.on_stats is not None:
            self.on_stats(plan.stats)
        return body

    async def flush(self) -> bytes:
        return b""
