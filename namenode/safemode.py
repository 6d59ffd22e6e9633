"""Safe mode: read-only until enough of the namespace's blocks have a reported replica. Pure.

After a restart the namenode knows every file's blocks (from its log) but not where any
replica is (that is soft state). Until `threshold` of the complete blocks have at least one
reported replica, and then `extension` seconds more, it refuses mutations and schedules no
replication or deletion — otherwise it would "repair" blocks that are merely unreported.
"""

from __future__ import annotations

import math


class SafeMode:
    def __init__(self, *, threshold: float, extension: float) -> None:
        self.threshold = threshold
        self.extension = extension
        self.on = True
        self.manual = False
        self._reached_at: float | None = None
        self.total = 0
        self.reported = 0

    def update(self, *, total: int, reported: int, now: float) -> bool:
        """Feed the current counts; returns whether safe mode is still on."""
        self.total, self.reported = total, reported
        if not self.on or self.manual:
            return self.on
        if reported >= self.needed(total):
            if self._reached_at is None:
                self._reached_at = now
            if now - self._reached_at >= self.extension:
                self.on = False
        else:
            self._reached_at = None
        return self.on

    def needed(self, total: int) -> int:
        """Blocks that must be reported before safe mode can end: `threshold` of `total`,
        rounded up. Rounded to 1e-9 first so that 0.14 * 50 (7.000000000000001) needs 7."""
        return math.ceil(round(self.threshold * total, 9))

    def enter(self) -> None:
        self.on = self.manual = True

    def leave(self) -> None:
        self.on = self.manual = False

    def describe(self) -> str:
        if not self.on:
            return "Safe mode is OFF"
        if self.manual:
            return "Safe mode is ON (entered by an administrator)"
        return (
            f"Safe mode is ON: {self.reported} of {self.total} blocks reported, "
            f"need {self.threshold:.3%}"
        )
