"""Relabeling as Prometheus' ``model/relabel``: compiled rules applied to a mutable label map.

Regexes are RE2, fully anchored, ``.`` matching newlines (``^(?s:regex)$``), as in Prometheus 3
and ``obskit.model.Matcher`` (whose fast paths serve the match-only actions). Replacement
templates expand ``$1``, ``${1}``, ``$name`` and ``$$`` exactly as Go's ``Regexp.Expand``.
Setting a label to "" deletes it, as Prometheus' ``labels.Builder`` does.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass

import re2

from obskit.errors import ConfigError, QueryError
from obskit.ingest.scrape.config import RelabelConfig
from obskit.model import Matcher, MatchType

__all__ = ["Relabeler", "compile_regex", "expand_template"]

# Distinct relabel regexes kept compiled; configs rarely hold more than a few hundred.
_REGEX_CACHE_SIZE = 1024


@functools.lru_cache(maxsize=_REGEX_CACHE_SIZE)
def compile_regex(pattern: str) -> re2._Regexp[str]:
    """``pattern`` compiled for full matches with groups; raises ``ConfigError`` when invalid."""
    options = re2.Options()
    options.log_errors = False
    try:
        # Compiled alone first, so that "a)|(b" cannot sneak through the "(?s:...)" wrapper.
        re2.compile(pattern, options)
        return re2.compile(f"(?s:{pattern})", options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else b""
        text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        raise ConfigError(f"invalid relabel regex {pattern!r}: {text}") from None
    except UnicodeEncodeError:
        raise ConfigError(f"invalid relabel regex {pattern!r}: not valid UTF-8") from None


def _full_matcher(pattern: str) -> Callable[[str], bool]:
    try:
        return Matcher(MatchType.RE, "regex", pattern).matches
    except QueryError as exc:
        raise ConfigError(f"invalid relabel regex {pattern!r}: {exc}") from None


def _template_name(template: str, start: int) -> tuple[str, int] | None:
    """The variable name after a ``$`` at ``start - 1`` and where the text resumes, or None when
    the ``$`` is malformed (Go then keeps it as raw text)."""
    brace = start < len(template) and template[start] == "{"
    i = start + 1 if brace else start
    end = i
    while end < len(template) and (template[end].isalnum() or template[end] == "_"):
        end += 1
    if end == i:
        return None
    if brace:
        if end >= len(template) or template[end] != "}":
            return None
        return template[i:end], end + 1
    return template[i:end], end


def expand_template(template: str, value: str, match: re2._Match[str]) -> str:
    """Go's ``Regexp.ExpandString``: ``$1``/``${1}``/``$name`` become the group's text ("" when
    the group is unmatched or unknown); ``$1x`` names group ``1x``; ``$$`` is a literal ``$``."""
    if "$" not in template:
        return template
    regex = match.re
    out: list[str] = []
    pos = 0
    while True:
        dollar = template.find("$", pos)
        if dollar < 0:
            break
        out.append(template[pos:dollar])
        if template.startswith("$", dollar + 1):
            out.append("$")
            pos = dollar + 2
            continue
        parsed = _template_name(template, dollar + 1)
        if parsed is None:
            out.append("$")
            pos = dollar + 1
            continue
        name, pos = parsed
        group: int | None = None
        if name.isascii() and name.isdigit() and not (name[0] == "0" and len(name) > 1):
            group = int(name) if len(name) <= 8 else None
        else:
            group = regex.groupindex.get(name)
        if group is not None and group <= regex.groups:
            start, end = match.span(group)
            if start >= 0:
                out.append(value[start:end])
    out.append(template[pos:])
    return "".join(out)


def _set(labels: MutableMapping[str, str], name: str, value: str) -> None:
    if value == "":
        labels.pop(name, None)
    else:
        labels[name] = value


@dataclass(frozen=True, slots=True)
class _Rule:
    config: RelabelConfig
    regex: re2._Regexp[str]
    matches: Callable[[str], bool]

    def apply(self, labels: MutableMapping[str, str]) -> bool:
        """Apply the rule in place; False when the label set is to be dropped."""
        cfg = self.config
        action = cfg.action
        value = cfg.separator.join(labels.get(name, "") for name in cfg.source_labels)
        if action == "drop":
            return not self.matches(value)
        if action == "keep":
            return self.matches(value)
        if action == "dropequal":
            return labels.get(cfg.target_label, "") != value
        if action == "keepequal":
            return labels.get(cfg.target_label, "") == value
        if action == "replace":
            match = self.regex.fullmatch(value)
            if match is not None:
                target = expand_template(cfg.target_label, value, match)
                if target != "":
                    _set(labels, target, expand_template(cfg.replacement, value, match))
        elif action == "lowercase":
            _set(labels, cfg.target_label, value.lower())
        elif action == "uppercase":
            _set(labels, cfg.target_label, value.upper())
        elif action == "hashmod":
            # As Prometheus: md5 of the joined values, its low 8 bytes read big-endian.
            digest = hashlib.md5(value.encode("utf-8"), usedforsecurity=False).digest()
            _set(labels, cfg.target_label, str(int.from_bytes(digest[8:], "big") % cfg.modulus))
        elif action == "labelmap":
            for name, label_value in list(labels.items()):
                match = self.regex.fullmatch(name)
                if match is not None:
                    new_name = expand_template(cfg.replacement, name, match)
                    if new_name != "":
                        _set(labels, new_name, label_value)
        elif action == "labeldrop":
            for name in [n for n in labels if self.matches(n)]:
                del labels[name]
        elif action == "labelkeep":
            for name in [n for n in labels if not self.matches(n)]:
                del labels[name]
        else:
            raise AssertionError(f"BUG: unknown relabel action {action!r}")
        return True


class Relabeler:
    """A compiled list of relabel rules, applied in order; immutable and thread-safe."""

    __slots__ = ("_rules",)

    def __init__(self, configs: Sequence[RelabelConfig]) -> None:
        self._rules = tuple(
            _Rule(cfg, compile_regex(cfg.regex), _full_matcher(cfg.regex)) for cfg in configs
        )

    def __bool__(self) -> bool:
        return bool(self._rules)

    def process(self, labels: MutableMapping[str, str]) -> bool:
        """Relabel ``labels`` in place; False when a rule dropped the set (the map is then
        left part-way)."""
        return all(rule.apply(labels) for rule in self._rules)

    def relabel(self, labels: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...] | None:
        """The relabeled set sorted by name, or None when dropped or left empty."""
        mapping = dict(labels)
        if not self.process(mapping) or not mapping:
            return None
        return tuple(sorted(mapping.items()))
