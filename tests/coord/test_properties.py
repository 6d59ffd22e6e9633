"""Hypothesis drives random command sequences through the machine: the invariants hold
after every entry, a refusal changes nothing, revisions never go back, and a snapshot
taken at any point restores to a machine that answers everything after it identically."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from coord.machine import CoordMachine
from raft.machine import Request
from tests.coord.invariants import TokenWatch, check_state

LOCKS = ["L", "M"]
KEYS = ["k", "j", "L"]

# A step names its session by position among those opened so far (or a stranger), so a
# sequence means the same thing whichever indices its sessions were given.
who = st.integers(0, 5)
steps = st.one_of(
    st.tuples(st.just("open"), st.sampled_from([1_000, 5_000])),
    st.tuples(st.just("keepalive"), who),
    st.tuples(st.just("close"), who),
    st.tuples(st.just("expire"), who, st.integers(-2, 0)),
    st.tuples(
        st.just("acquire"),
        who,
        st.sampled_from(LOCKS),
        st.sampled_from(["exclusive", "shared"]),
        st.booleans(),
    ),
    st.tuples(st.just("release"), who, st.sampled_from(LOCKS)),
    st.tuples(st.just("put"), st.sampled_from(KEYS), st.one_of(st.none(), who)),
    st.tuples(st.just("delete"), st.sampled_from(KEYS)),
    st.tuples(st.just("garbage"), st.dictionaries(st.sampled_from(["op", "session"]), who)),
)


class Driver:
    def __init__(self) -> None:
        self.opened: list[str] = []
        self.renewals: list[int] = [0]

    def session(self, n: int) -> str:
        return self.opened[n] if n < len(self.opened) else "s-999"

    def command(self, step: tuple[Any, ...]) -> tuple[dict[str, Any], str]:
        """The step's command and its client."""
        op, *args = step
        match op:
            case "open":
                return {"op": op, "ttl_ms": args[0], "owner": "o"}, "c"
            case "keepalive" | "close":
                return {"op": op, "session": self.session(args[0])}, "c"
            case "expire":
                renewed = self.renewals[args[1] % len(self.renewals)]
                return {"op": op, "session": self.session(args[0]), "renewed": renewed}, ""
            case "acquire":
                n, lock, mode, wait = args
                return {"op": op, "session": self.session(n), "lock": lock, "mode": mode,
                        "wait": wait}, "c"  # fmt: skip
            case "release":
                return {"op": op, "session": self.session(args[0]), "lock": args[1]}, "c"
            case "put":
                owner = None if args[1] is None else self.session(args[1])
                return {"op": op, "key": args[0], "value": "v", "session": owner}, "c"
            case "delete":
                return {"op": op, "key": args[0]}, "c"
        return dict(args[0]), "c"

    def run(self, machine: CoordMachine, index: int, step: tuple[Any, ...]) -> Any:
        command, client = self.command(step)
        outcome = machine.apply(index, Request(command, client))
        if "ok" in outcome and "session" in outcome["ok"]:
            if command["op"] == "open":
                self.opened.append(outcome["ok"]["session"])
            self.renewals.append(index)
        return outcome


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=60))
def test_invariants_hold_and_refusals_change_nothing(sequence: list[tuple[Any, ...]]) -> None:
    machine, driver, tokens = CoordMachine(), Driver(), TokenWatch()
    names = sorted({*LOCKS, *KEYS})
    revisions = dict.fromkeys(names, 0)
    for index, step in enumerate(sequence, 1):
        before = machine.snapshot()
        outcome = driver.run(machine, index, step)
        if "error" in outcome:
            assert machine.snapshot() == before
            assert not machine.effects.changed and not machine.effects.granted
        check_state(machine)
        tokens.observe(index, machine.effects)
        for name in names:
            now = machine.revision_of(name)
            assert now >= revisions[name]
            assert (now > revisions[name]) >= (name in machine.effects.changed)
            revisions[name] = now


@settings(max_examples=200, deadline=None)
@given(st.lists(steps, max_size=50), st.data())
def test_a_restored_snapshot_answers_the_rest_identically(
    sequence: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(sequence)))
    whole, driver = CoordMachine(), Driver()
    results = [driver.run(whole, i, step) for i, step in enumerate(sequence, 1)]

    first, driver = CoordMachine(), Driver()
    for i, step in enumerate(sequence[:cut], 1):
        driver.run(first, i, step)
    restored = CoordMachine()
    restored.restore(first.snapshot())
    assert restored.snapshot() == first.snapshot()
    assert restored.sessions() == first.sessions()
    assert restored.lock_status() == first.lock_status()
    rest = [driver.run(restored, i, step) for i, step in enumerate(sequence[cut:], cut + 1)]
    assert rest == results[cut:]
    assert restored.snapshot() == whole.snapshot()
