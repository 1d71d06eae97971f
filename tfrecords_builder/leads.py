"""Lead names: the twelve standard leads, a record's channels matched to them, ``--lead-map``.

Channels are matched to leads by name, without case and with the CODE release's
``DI``/``DII``/``DIII`` folded in. Holter and monitoring records name their channels
``MLII``, ``V``, ``ECG``: a lead map (``--lead-map MLII=II,V=V5``) says which standard
lead such a channel is. Channels no requested lead maps to are ignored.

Example:
>>> mapping = parse_lead_map("MLII=II, V=V5")
>>> mapping
{'MLII': 'II', 'V': 'V5'}
>>> select_leads(["MLII", "V", "ABP"], ["II"], mapping)
[0]
>>> select_leads(["MLII", "ABP"], ["V5"], mapping)
Traceback (most recent call last):
...
tfrecords_builder.errors.RecordRejected: missing lead V5; record has MLII (mapped to II), ABP
"""

from __future__ import annotations

import functools
from typing import Mapping, Sequence

from tfrecords_builder.errors import RecordRejected

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF",
                  "V1", "V2", "V3", "V4", "V5", "V6")
# Names some releases use for the limb leads (CODE: DI, DII, DIII).
_LEAD_ALIASES = {"di": "i", "dii": "ii", "diii": "iii"}


def canonical_lead(name: str) -> str:
    """Lower-case lead name with release-specific aliases folded in."""
    key = name.strip().lower()
    return _LEAD_ALIASES.get(key, key)


_STANDARD_KEYS = tuple(canonical_lead(lead) for lead in STANDARD_LEADS)


def standard_lead_subset(names: Sequence[str]) -> tuple[str, ...]:
    """Standard lead names, in the given order, for user-given names (any case, aliases folded).

    Raises:
        ValueError: a name is not a standard lead, or is given twice.

    Example:
    >>> standard_lead_subset(["ii", "DI", "V1"])
    ('II', 'I', 'V1')
    """
    by_key = dict(zip(_STANDARD_KEYS, STANDARD_LEADS))
    unknown = [name for name in names if canonical_lead(name) not in by_key]
    if unknown or not names:
        hint = (f"; to use a channel named {unknown[0]}, map it onto the standard lead it is "
                f"with --lead-map {unknown[0]}=II (for example)") if unknown else ""
        raise ValueError(f"leads must be standard lead names ({', '.join(STANDARD_LEADS)}); "
                         f"got {', '.join(map(repr, unknown or names)) or 'none'}{hint}")
    subset = tuple(by_key[canonical_lead(name)] for name in names)
    if len(set(subset)) != len(subset):
        raise ValueError(f"leads {', '.join(names)} name a lead twice")
    return subset


def parse_lead_map(text: str | Mapping[str, str] | None) -> dict[str, str]:
    """``{channel name: standard lead}`` from ``"MLII=II,MLIII=III,V=V5"`` (or such a dict).

    Raises:
        ValueError: an entry without ``=``, an empty channel name, a target that is not a
            standard lead, a channel given twice, or two channels mapped onto one lead.
    """
    if text is None:
        return {}
    if isinstance(text, Mapping):
        pairs = [(str(channel), str(lead)) for channel, lead in text.items()]
    else:
        pairs = []
        for entry in (part.strip() for part in str(text).split(",")):
            channel, sep, lead = entry.partition("=")
            if not sep or not channel.strip() or not lead.strip():
                raise ValueError(f"--lead-map entry {entry!r} is not CHANNEL=LEAD; expected e.g. "
                                 f"MLII=II,MLIII=III,V=V5")
            pairs.append((channel, lead))
    mapping: dict[str, str] = {}
    for channel, lead in pairs:
        channel = channel.strip()
        try:
            (standard,) = standard_lead_subset([lead.strip()])
        except ValueError:
            raise ValueError(f"--lead-map {channel}={lead.strip()}: {lead.strip()!r} is not a "
                             f"standard lead ({', '.join(STANDARD_LEADS)})") from None
        if canonical_lead(channel) in map(canonical_lead, mapping):
            raise ValueError(f"--lead-map names channel {channel} twice")
        taken = [name for name, target in mapping.items() if target == standard]
        if taken:
            raise ValueError(f"--lead-map maps both {taken[0]} and {channel} onto {standard}")
        mapping[channel] = standard
    return mapping


def format_lead_map(mapping: Mapping[str, str]) -> str:
    """The ``--lead-map`` text of a mapping (``MLII=II,V=V5``)."""
    return ",".join(f"{channel}={lead}" for channel, lead in mapping.items())


def mapped_names(channel_names: Sequence[str],
                 lead_map: Mapping[str, str] | None = None) -> list[str]:
    """Each channel's lead name once ``lead_map`` is applied (channels not in it keep theirs)."""
    by_key = {canonical_lead(channel): lead for channel, lead in (lead_map or {}).items()}
    return [by_key.get(canonical_lead(name), name) for name in channel_names]


def select_leads(channel_names: Sequence[str], leads: Sequence[str] = STANDARD_LEADS,
                 lead_map: Mapping[str, str] | None = None) -> list[int]:
    """Index in ``channel_names`` of each of ``leads``, in order, after ``lead_map``.

    Raises:
        RecordRejected: a lead no channel is (the message lists the record's channels), or
            a lead two channels are (which one is meant is unknown).
    """
    # A release names its channels the same way in every record: the answer is cached.
    return list(_selected_leads(tuple(channel_names), tuple(leads),
                                tuple((lead_map or {}).items())))


@functools.lru_cache(maxsize=1024)
def _selected_leads(channel_names: tuple[str, ...], leads: tuple[str, ...],
                    lead_map: tuple[tuple[str, str], ...]) -> tuple[int, ...]:
    names = mapped_names(channel_names, dict(lead_map))
    shown = [name if name == channel else f"{channel} (mapped to {name})"
             for channel, name in zip(channel_names, names)]
    wanted = {canonical_lead(lead) for lead in leads}
    position: dict[str, int] = {}
    for i, name in enumerate(names):
        key = canonical_lead(name)
        if key in position and key in wanted:
            raise RecordRejected(f"lead {name} appears twice (signals {position[key] + 1} and "
                                 f"{i + 1}: {shown[position[key]]}, {shown[i]}); which one is "
                                 f"meant is ambiguous")
        position.setdefault(key, i)
    missing = [lead for lead in leads if canonical_lead(lead) not in position]
    if missing:
        raise RecordRejected(f"missing lead{'s' if len(missing) > 1 else ''} "
                             f"{', '.join(missing)}; record has {', '.join(shown) or 'no signals'}")
    return tuple(position[canonical_lead(lead)] for lead in leads)


def unread_channels(names: Sequence[str], units: Sequence[str],
                    indices: Sequence[int]) -> list[tuple[str, str]]:
    """``(name, unit)`` of every channel not at ``indices`` (those a read leaves out)."""
    read = set(indices)
    return [(name, unit) for i, (name, unit) in enumerate(zip(names, units)) if i not in read]
