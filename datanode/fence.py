"""Which namenode of a group a datanode obeys: term fencing, as HDFS HA fences by epoch. Pure.

A datanode reports to every namenode of its group but carries out data commands (delete,
replicate, recover) from one only: a reply must say ``active`` and carry a term no lower
than the highest this datanode has seen in any active reply. An active reply with a lower
term comes from a deposed leader that has not yet heard of its successor (a partition, a
long pause): its commands were decided from a view the group has moved past, and deleting
a replica on its word could lose data, so they are dropped.

The highest term lives in memory only. A restarted datanode starts again from 0 and may
obey a deposed leader's first reply until it hears the new leader. That is safe enough:
a namenode issues commands only from state its group committed, so a deposed leader's
command was right when it was decided; the fence closes the window in which that state has
since moved on, and it closes again at the first active reply from the current leader.

`register` and `report` commands are not data commands: they concern only the namenode
that sent them, and each namenode's actor obeys them whatever the fence says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Verdict(StrEnum):
    ACTIVE = "active"  # says active, at no older a term than the newest seen: obeyed
    STANDBY = "standby"  # not the leader: told everything, obeyed in nothing
    DEPOSED = "deposed"  # says active, but a newer term has been seen: obeyed in nothing


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    # True the first time this namenode is seen deposed at this term, or when a leader is
    # found at a new term: what a log should say once, not at every heartbeat.
    news: bool = False

    @property
    def obey(self) -> bool:
        return self.verdict is Verdict.ACTIVE


@dataclass
class Fence:
    highest_term: int = 0
    active: str | None = None  # url of the namenode whose active reply set `highest_term`
    # url -> the term at which it was last found deposed (so it is logged once per term)
    _deposed: dict[str, int] = field(default_factory=dict)

    def judge(self, url: str, active: bool, term: int) -> Judgement:
        """The verdict on one reply (a heartbeat's or a block report's) from `url`."""
        if not active:
            if self.active == url:  # the leader stepped down: nobody known to lead
                self.active = None
                return Judgement(Verdict.STANDBY, news=True)
            return Judgement(Verdict.STANDBY)
        if term < self.highest_term:
            if self.active == url:  # cannot happen with one term per leader; be safe
                self.active = None
            news = self._deposed.get(url) != term
            self._deposed[url] = term
            return Judgement(Verdict.DEPOSED, news=news)
        # Two namenodes active at one term (two single namenodes of today sharing a node)
        # would flip `active` at every beat: news only of a new term or a first leader.
        news = self.active is None or term > self.highest_term
        self.highest_term = term
        self.active = url
        self._deposed.pop(url, None)
        return Judgement(Verdict.ACTIVE, news=news)
