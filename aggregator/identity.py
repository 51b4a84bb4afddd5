"""Identity helpers: canonical links, normalized text for dedup, permanent entry ids.

DESIGN.md "Items and identity": the same story from two sources is stored once when
it has the same canonical link or the same normalized text (>= 40 characters), and an
item's id, fixed when first stored, is the same on every machine for ever.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from aggregator.text import collapse_ws, normalize, strip_html

__all__ = ["DEDUP_MIN_CHARS", "ENTRY_NAMESPACE", "REDIRECTORS", "canonical_link", "dedup_text", "entry_uid", "item_texts",
           "text_key", "untracked", "unwrapped", "without_credentials"]

# Never change: every published entry id derives from it.
ENTRY_NAMESPACE = uuid.UUID("6f1c3b52-8a0e-5d47-9b8e-3c2a41d7e905")

# item_texts strips each part of every entry once, and each is a new string: the cache
# of strip_html would only miss, at the cost of hashing the whole fragment first.
_strip_uncached = strip_html.__wrapped__

# Shorter normalized texts ("Read more", "Video") are too common to mean "same story".
DEDUP_MIN_CHARS = 40

_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAMESPACE_BYTES = ENTRY_NAMESPACE.bytes
# Already canonical: lower-case http(s) host, no port, credentials, query or fragment.
_SIMPLE_URL = re.compile(r"(https?)://[a-z0-9.-]+(?::([1-9][0-9]{0,4}))?(?:/[^?#\s\[\]@]*)?")
_TRACKING_EXACT = frozenset({"fbclid", "gclid"})
# Every tracking parameter name holds one of these (case aside): links without are
# returned as they are, unparsed.
_TRACKING_HINT = re.compile(r"utm_|clid", re.IGNORECASE)


def _is_tracking(param: str) -> bool:
    """True for ``utm_*``, ``fbclid`` and ``gclid`` query parameters (``utm`` alone stays)."""
    name = unquote(param.split("=", 1)[0].replace("+", " ")).lower()
    return name.startswith("utm_") or name in _TRACKING_EXACT


def untracked(url: str) -> str:
    """``url`` less its ``utm_*``, ``fbclid`` and ``gclid`` query parameters; everything
    else verbatim (the other parameters in order, the fragment). A link that only
    changes its campaign parameters is the same page: an entry's identity and what
    counts as a change upstream take its link in this form."""
    end = url.find("#")
    if end < 0:
        end = len(url)
    start = url.find("?", 0, end)
    if start < 0 or not _TRACKING_HINT.search(url, start, end):
        return url
    params = url[start + 1:end].split("&")
    kept = [p for p in params if not _is_tracking(p)]
    if len(kept) == len(params):
        return url
    kept = [p for p in kept if p]
    return url[:start] + ("?" + "&".join(kept) if kept else "") + url[end:]


# Click trackers that carry the story's own URL in their ``url`` parameter, exactly as
# their feeds write them: Google Alerts' (https://www.google.com/url?rct=j&sa=t&url=...&ct=ga
# &cd=...&usg=...) and Bing News' (http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=
# &tid=...&url=...&c=...&mkt=en-us). A link not starting so is returned by one startswith.
REDIRECTORS = (
    "https://www.google.com/url?", "http://www.google.com/url?",
    "http://www.bing.com/news/apiclick.aspx?", "https://www.bing.com/news/apiclick.aspx?",
    "http://bing.com/news/apiclick.aspx?", "https://bing.com/news/apiclick.aspx?",  # a search asked of bing.com
)
# What a wrapped URL must look like once decoded: http(s), a host, no space or control
# character (a target cut short or garbled leaves the link as it was sent).
_TARGET = re.compile(r"https?://([^\x00-\x20\x7f/?#@]+)(?:[/?#][^\x00-\x20\x7f]*)?")


def unwrapped(url: str) -> str:
    """The story's own URL when ``url`` is a Google Alerts or Bing News click tracker
    (``REDIRECTORS``) whose one ``url`` parameter, percent-decoded (Bing encodes it, Google
    Alerts mostly does not), is an http(s) URL with a host; else ``url`` as it is. A tracker
    wrapped in another (a Google Alert of a Bing link) is unwrapped too, a few deep.

    The entry's link is published in this form, so a reader's click goes to the outlet
    and the story's link equals the outlet's own (``canonical_link`` dedup), and an entry
    with no guid is keyed by it (``parse.entry_key``): Bing writes its tracker anew at every
    fetch. A guid-less item stored under the tracker's link is found by 0018's former key.
    """
    for _ in range(4):  # a tracker of a tracker...: bounded, a loop of them ends too
        target = _unwrapped_once(url)
        if target is url or not target.startswith(REDIRECTORS):
            return target
        url = target
    return url


def _unwrapped_once(url: str) -> str:
    if not url.startswith(REDIRECTORS):
        return url
    query = url.split("?", 1)[1].split("#", 1)[0]
    targets = [param[4:] for param in query.split("&") if param[:4] == "url="]
    if len(targets) != 1:
        return url
    target = targets[0]
    if "%" in target:
        try:
            target = unquote(target, errors="strict")
        except UnicodeDecodeError:  # percent-encoded bytes that are no UTF-8
            return url
    found = _TARGET.fullmatch(target)
    if found is None:
        return url
    if ":" in found[1] or "[" in found[1] or "]" in found[1]:  # a port or an IPv6 literal: rare
        try:
            parts = urlsplit(target)
            parts.port  # noqa: B018 - raises on a port that is no number or out of range
        except ValueError:
            return url
        if not parts.hostname:
            return url
    return target


def without_credentials(url: str) -> str:
    """``url`` as the published feeds and /healthz may show it: a private feed's user name
    and password (``https://user:pw@host/feed``, which the fetch sends as Basic auth) stay
    in the config, or every reader of a topic feed would see them in atom:source."""
    start = url.find("://") + 3
    if start < 3:
        return url
    end = min((i for i in map(url.find, "/?#", (start,) * 3) if i >= 0), default=len(url))
    at = url.rfind("@", start, end)
    return url if at < 0 else url[:start] + url[at + 1:]


def _ascii_host(host: str) -> str:
    """An international host name in the one spelling the fetch sends it in: IDNA 2008
    with UTS #46, which composes and case-folds first (``bücher`` in any case, composed or
    not, is ``xn--bcher-kva``), else IDNA 2003 as the fetch falls back to, else NFC."""
    import idna  # its tables take ≈ 1 MiB: only for the rare international host name

    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except UnicodeError:
        try:
            return host.encode("idna").decode("ascii")
        except UnicodeError:  # no DNS name (a label too long): one spelling all the same
            return unicodedata.normalize("NFC", host)


def _canonical_netloc(parts: SplitResult) -> str | None:
    host = parts.hostname  # already lower-cased by urllib
    if not host:
        return None
    if not host.isascii():
        host = _ascii_host(host)
    try:
        port = parts.port
    except ValueError:  # "http://h:99999/" or "http://h:abc/": not a usable link
        return None
    if ":" in host:  # IPv6 literal: urllib strips the brackets
        host = f"[{host}]"
    netloc = host
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        netloc = f"{host}:{port}"
    if "@" in parts.netloc:  # keep credentials verbatim: they are case-sensitive
        netloc = parts.netloc.rpartition("@")[0] + "@" + netloc
    return netloc


def canonical_link(url: str | None) -> str | None:
    """The form of ``url`` used to recognise one story linked from two sources.

    Scheme and host lower-cased (an international host name in IDNA, ``xn--``), default
    port and fragment dropped, an empty path becomes ``/`` (the same resource),
    ``utm_*``/``fbclid``/``gclid`` query parameters removed and every other parameter
    kept verbatim and in order. Returns None for None, empty, non-http(s) or unparsable
    URLs: such items are not link-deduplicated.
    """
    if not url or not url.strip():
        return None
    simple = _SIMPLE_URL.fullmatch(url)
    if simple and ".." not in url.split("/", 3)[2] and (
        simple[2] is None or (int(simple[2]) <= 65535 and int(simple[2]) != _DEFAULT_PORTS[simple[1]])
    ):
        return url if url.count("/") > 2 else url + "/"  # an empty path is "/"
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    if parts.scheme not in _DEFAULT_PORTS:
        return None
    netloc = _canonical_netloc(parts)
    if netloc is None:
        return None
    params = [p for p in parts.query.split("&") if p and not _is_tracking(p)]
    return urlunsplit((parts.scheme, netloc, parts.path or "/", "&".join(params), ""))


def dedup_text(
    title: str | None,
    content: str | None,
    content_type: str = "html",
) -> str | None:
    """Normalized title + content for text dedup, or None when under 40 characters.

    The content's HTML (when ``content_type == "html"``) is stripped, then NFC,
    case-folded, and whitespace collapsed; the length is that of the final string. The
    title is plain text (see ``rule_text``): ``Why x<y matters`` keeps its words.
    """
    body = strip_html(content) if content and content_type == "html" else content
    text = collapse_ws(normalize(" ".join(value for value in (title, body) if value)))
    return text if len(text) >= DEDUP_MIN_CHARS else None


def item_texts(
    title: str | None,
    summary: str | None,
    content: str | None,
    content_type: str = "html",
) -> tuple[str, str | None]:
    """``(rule_text(title, summary, content, content_type), dedup_text(title, content or
    summary, content_type))`` with each part stripped and normalised once, not twice.

    Normalising parts one by one and joining them equals normalising the joined text:
    the separators (space, newline) are starters that compose with nothing, and case
    folding maps characters one at a time.
    """
    is_html = content_type == "html"

    def norm(value: str | None, html: bool) -> tuple[str, str] | None:
        """(stripped, normalised) of a part, None when the part is empty."""
        if not value:
            return None
        stripped = _strip_uncached(value) if html else value
        return stripped, normalize(stripped) if stripped else ""

    # A title is plain text, to the rules (see rule_text) and to the dedup text alike.
    parts = (norm(title, False), norm(summary, True), norm(content, is_html))
    rule_parts = []
    for part in parts:
        if part is None or not part[0]:
            continue  # rule_text drops parts that strip to nothing
        stripped, normed = part
        # rule_text removes invisible soft hyphens before normalising (it can join a
        # base letter to its mark); the dedup text keeps them.
        rule_parts.append(normalize(stripped.replace("\xad", "")) if "\xad" in stripped else normed)
    rule = "\n".join(rule_parts).strip()

    body = parts[2] if content else (parts[1] if is_html else norm(summary, False))
    dedup = collapse_ws(" ".join(p[1] for p in (parts[0], body) if p is not None))
    return rule, dedup if len(dedup) >= DEDUP_MIN_CHARS else None


def text_key(s: str) -> int:
    """The index key of a ``dedup_text``: the first 8 bytes of its SHA-256 (UTF-8) as a
    signed 64-bit integer. Two different texts share a key with odds of 2**-64 a pair."""
    return int.from_bytes(hashlib.sha256(s.encode("utf-8")).digest()[:8], "big", signed=True)


def entry_uid(source_name: str, key: str) -> str:
    """An item's permanent id: ``urn:uuid:`` + uuid5(namespace, source_name NUL key).

    The NUL separator keeps ("ab", "c") and ("a", "bc") apart; source names and keys
    never contain it.
    """
    # uuid.uuid5 by hand (same bytes, same result): it is computed for every new item.
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + (source_name + "\0" + key).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
