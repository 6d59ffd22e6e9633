"""Block placement policies, reader ordering and excess-replica choice (namenode.placement)."""

from __future__ import annotations

import ast
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import namenode.placement as placement_module
from namenode.placement import (
    POLICY_NAMES,
    BlockPlacementPolicy,
    DefaultPlacement,
    LeastUsedPlacement,
    NodeView,
    RandomPlacement,
    RoundRobinPlacement,
    choose_excess,
    make_policy,
    order_for_reader,
)

MB = 1 << 20
BLOCK = 64 * MB
CAP = 1024 * MB


def node(
    node_id: str,
    rack: str = "/default-rack",
    *,
    host: str | None = None,
    remaining: int = CAP,
    capacity: int = CAP,
    active: int = 0,
) -> NodeView:
    return NodeView(
        id=node_id,
        host=host if host is not None else f"{node_id}.local",
        rack=rack,
        capacity=capacity,
        remaining=remaining,
        active_transfers=active,
    )


def two_racks() -> list[NodeView]:
    """a1..a3 on /rack-a, b1..b3 on /rack-b."""
    return [node(f"a{i}", "/rack-a") for i in (1, 2, 3)] + [
        node(f"b{i}", "/rack-b") for i in (1, 2, 3)
    ]


def is_full(n: NodeView, block_size: int) -> bool:
    return block_size > 0 and n.capacity > 0 and n.remaining < block_size


# --------------------------------------------------------------------------- the contract

node_views = st.builds(
    NodeView,
    id=st.sampled_from([f"dn{i}" for i in range(10)]),
    host=st.sampled_from(["h0", "h1", "h2", "h3", "h4"]),
    rack=st.sampled_from(["/r0", "/r1", "/r2"]),
    capacity=st.sampled_from([0, 100, 1000]),
    remaining=st.integers(min_value=0, max_value=1000),
    active_transfers=st.integers(min_value=0, max_value=5),
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    policy_name=st.sampled_from(POLICY_NAMES),
    candidates=st.lists(node_views, max_size=10),
    existing_ids=st.sets(st.sampled_from([f"dn{i}" for i in range(10)]), max_size=4),
    count=st.integers(min_value=1, max_value=6),
    writer_host=st.none() | st.sampled_from(["h0", "h1", "elsewhere"]),
    block_size=st.sampled_from([0, 50, 500]),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    calls=st.integers(min_value=1, max_value=3),
)
def test_every_policy_returns_distinct_eligible_nodes_up_to_count(
    policy_name: str,
    candidates: list[NodeView],
    existing_ids: set[str],
    count: int,
    writer_host: str | None,
    block_size: int,
    seed: int,
    calls: int,
) -> None:
    policy = make_policy(policy_name)
    existing = [NodeView(id=i, host=f"{i}.host", rack="/r0") for i in sorted(existing_ids)]
    eligible_ids = {
        n.id for n in candidates if n.id not in existing_ids and not is_full(n, block_size)
    }
    rng = random.Random(seed)
    for _ in range(calls):  # repeated calls exercise round-robin's cursor
        chosen = policy.choose_targets(
            count,
            candidates,
            rng=rng,
            writer_host=writer_host,
            existing=existing,
            block_size=block_size,
        )
        ids = [n.id for n in chosen]
        assert len(ids) == len(set(ids)), "targets must be distinct"
        assert len(chosen) == min(count, len(eligible_ids))
        assert all(n in candidates for n in chosen)
        assert not set(ids) & existing_ids
        assert not any(is_full(n, block_size) for n in chosen)


@pytest.mark.parametrize("policy_name", POLICY_NAMES)
def test_too_few_candidates_gives_fewer_and_never_raises(policy_name: str) -> None:
    policy = make_policy(policy_name)
    rng = random.Random(1)
    assert policy.choose_targets(3, [], rng=rng) == []
    assert policy.choose_targets(0, two_racks(), rng=rng) == []
    assert policy.choose_targets(-1, two_racks(), rng=rng) == []
    only = [node("x")]
    assert policy.choose_targets(3, only, rng=rng) == only
    assert policy.choose_targets(3, only, rng=rng, existing=only) == []


@pytest.mark.parametrize("policy_name", POLICY_NAMES)
def test_full_nodes_are_never_chosen(policy_name: str) -> None:
    full = [node(f"full{i}", remaining=BLOCK - 1) for i in range(4)]
    roomy = [node("roomy", remaining=BLOCK)]
    unknown_capacity = [node("unknown", capacity=0, remaining=0)]
    policy = make_policy(policy_name)
    for seed in range(50):
        chosen = policy.choose_targets(
            3,
            full + roomy + unknown_capacity,
            rng=random.Random(seed),
            writer_host="full0.local",
            block_size=BLOCK,
        )
        assert {n.id for n in chosen} == {"roomy", "unknown"}
    # Without a block size nothing counts as full.
    assert len(policy.choose_targets(3, full, rng=random.Random(0))) == 3


@pytest.mark.parametrize("policy_name", POLICY_NAMES)
def test_duplicate_candidates_count_once(policy_name: str) -> None:
    a = node("a")
    chosen = make_policy(policy_name).choose_targets(3, [a, a, a], rng=random.Random(0))
    assert chosen == [a]


# --------------------------------------------------------------------------- default policy


def test_default_first_replica_is_writer_local() -> None:
    nodes = two_racks()
    for seed in range(100):
        chosen = DefaultPlacement().choose_targets(
            3, nodes, rng=random.Random(seed), writer_host="b2.local"
        )
        assert chosen[0].id == "b2"


def test_default_writer_host_with_several_nodes_uses_power_of_two_among_them() -> None:
    shared = [
        node("s1", host="shared", remaining=10 * MB),
        node("s2", host="shared", remaining=900 * MB),
    ]
    others = [node(f"o{i}", remaining=CAP) for i in range(5)]
    for seed in range(50):
        chosen = DefaultPlacement().choose_targets(
            1, others + shared, rng=random.Random(seed), writer_host="shared"
        )
        assert chosen[0].id == "s2"


def test_default_writer_not_a_candidate_or_full_falls_back() -> None:
    nodes = [*two_racks(), node("w", "/rack-a", host="writer", remaining=1)]
    for seed in range(30):
        chosen = DefaultPlacement().choose_targets(
            3, nodes, rng=random.Random(seed), writer_host="writer", block_size=BLOCK
        )
        assert "w" not in {n.id for n in chosen}
        assert len(chosen) == 3


def test_default_three_replicas_over_two_racks_span_both_at_most_two_per_rack() -> None:
    nodes = two_racks()
    for seed in range(200):
        writer = random.Random(seed).choice([None, "a1.local", "b3.local", "client"])
        chosen = DefaultPlacement().choose_targets(
            3, nodes, rng=random.Random(seed), writer_host=writer
        )
        racks = Counter(n.rack for n in chosen)
        assert set(racks) == {"/rack-a", "/rack-b"}
        assert max(racks.values()) <= 2
        # Pipeline order: 2nd off the 1st one's rack, 3rd on the 2nd one's rack.
        assert chosen[1].rack != chosen[0].rack
        assert chosen[2].rack == chosen[1].rack


def test_default_respects_max_nodes_per_rack_for_many_replicas() -> None:
    nodes = [node(f"{r}{i}", f"/rack-{r}") for r in "abc" for i in range(4)]
    for seed in range(100):
        chosen = DefaultPlacement().choose_targets(
            6, nodes, rng=random.Random(seed), writer_host="a0.local"
        )
        per_rack = Counter(n.rack for n in chosen)
        assert max(per_rack.values()) <= (6 - 1) // 3 + 2
        assert len(per_rack) >= 2


def test_default_relaxes_rack_limit_when_nothing_else_is_left() -> None:
    nodes = [node("a1", "/rack-a"), node("a2", "/rack-a"), node("a3", "/rack-a")]
    nodes.append(node("b1", "/rack-b"))
    chosen = DefaultPlacement().choose_targets(4, nodes, rng=random.Random(3))
    assert {n.id for n in chosen} == {"a1", "a2", "a3", "b1"}


def test_default_rereplication_moves_off_the_existing_rack() -> None:
    nodes = two_racks()
    for seed in range(100):
        rng = random.Random(seed)
        one = DefaultPlacement().choose_targets(
            1, nodes, rng=rng, existing=[nodes[0]], writer_host="a2.local"
        )
        assert one[0].rack == "/rack-b"
        two = DefaultPlacement().choose_targets(1, nodes, rng=rng, existing=nodes[:2])
        assert two[0].rack == "/rack-b"
        # Two missing replicas: the rack rule (not only the per-rack limit) sends the first
        # of them off rack A, and the next one joins it on rack B.
        more = DefaultPlacement().choose_targets(2, nodes, rng=rng, existing=[nodes[0]])
        assert [n.rack for n in more] == ["/rack-b", "/rack-b"]


def test_default_rereplication_third_replica_joins_second_rack() -> None:
    a1, _, _, b1, _, _ = nodes = two_racks()
    for seed in range(50):
        chosen = DefaultPlacement().choose_targets(
            1, nodes, rng=random.Random(seed), existing=[a1, b1]
        )
        assert chosen[0].rack == "/rack-b"
        assert chosen[0].id != "b1"


def test_default_single_rack_chooses_distinct_nodes() -> None:
    nodes = [node(f"n{i}") for i in range(5)]
    for seed in range(50):
        chosen = DefaultPlacement().choose_targets(
            3, nodes, rng=random.Random(seed), writer_host="n4.local"
        )
        assert len({n.id for n in chosen}) == 3
        assert chosen[0].id == "n4"


def test_default_is_deterministic_for_a_seed_and_independent_of_candidate_order() -> None:
    nodes = two_racks() + [node(f"c{i}", "/rack-c") for i in range(3)]
    reversed_nodes = list(reversed(nodes))
    for seed in range(20):
        first = DefaultPlacement().choose_targets(3, nodes, rng=random.Random(seed))
        again = DefaultPlacement().choose_targets(3, reversed_nodes, rng=random.Random(seed))
        assert first == again


def test_power_of_two_prefers_free_space_statistically() -> None:
    roomy = node("roomy", remaining=1000 * MB)
    nearly_full = node("nearly-full", remaining=100 * MB)
    middling = [node(f"mid{i}", remaining=500 * MB) for i in range(8)]
    candidates = [roomy, nearly_full, *middling]
    rng = random.Random(2024)
    picks: Counter[str] = Counter()
    for _ in range(2000):
        picks[DefaultPlacement().choose_targets(1, candidates, rng=rng)[0].id] += 1
    # Uniform choice would give each node ~200; power-of-two keeps the roomy node whenever it
    # is sampled (~400) and the nearly full one never.
    assert picks["roomy"] > 300
    assert picks["nearly-full"] < 20
    assert picks["roomy"] > 10 * max(picks["nearly-full"], 1)


def test_power_of_two_weights_free_space_down_by_load() -> None:
    busy_roomy = node("a-busy", remaining=1000 * MB, active=9)  # score 100 MB
    idle_smaller = node("b-idle", remaining=200 * MB, active=0)  # score 200 MB
    for seed in range(20):
        chosen = DefaultPlacement().choose_targets(
            1, [busy_roomy, idle_smaller], rng=random.Random(seed)
        )
        assert chosen == [idle_smaller]


def test_power_of_two_near_ties_go_either_way() -> None:
    # 3 % apart: within the tolerance, so free space that was reported at different moments
    # does not decide; 10 % apart: the roomier node always wins the pair.
    for other, both_win in ((970 * MB, True), (900 * MB, False)):
        pair = [node("z", remaining=1000 * MB), node("m", remaining=other)]
        wins = Counter(
            DefaultPlacement().choose_targets(1, pair, rng=random.Random(seed))[0].id
            for seed in range(200)
        )
        if both_win:
            assert min(wins["z"], wins["m"]) > 60, wins
        else:
            assert wins == {"z": 200}, wins


# --------------------------------------------------------------------------- other policies


def test_random_placement_uses_every_node() -> None:
    nodes = [node(f"n{i}") for i in range(6)]
    rng = random.Random(7)
    seen: Counter[str] = Counter()
    for _ in range(600):
        seen.update(n.id for n in RandomPlacement().choose_targets(2, nodes, rng=rng))
    assert set(seen) == {n.id for n in nodes}
    assert min(seen.values()) > 120  # ~200 each


def test_round_robin_continues_where_the_last_call_left_off() -> None:
    nodes = [node(i) for i in "edcba"]  # sorted by id inside the policy
    policy = RoundRobinPlacement()
    rng = random.Random(0)
    calls = [[n.id for n in policy.choose_targets(2, nodes, rng=rng)] for _ in range(3)]
    assert calls == [["a", "b"], ["c", "d"], ["e", "a"]]


def test_round_robin_spreads_evenly_over_repeated_calls() -> None:
    nodes = [node(f"n{i}") for i in range(5)]
    policy = RoundRobinPlacement()
    rng = random.Random(0)
    counts: Counter[str] = Counter()
    for _ in range(10):
        counts.update(n.id for n in policy.choose_targets(3, nodes, rng=rng))
    assert set(counts.values()) == {6}


def test_round_robin_cursor_survives_membership_changes() -> None:
    policy = RoundRobinPlacement()
    rng = random.Random(0)
    assert [n.id for n in policy.choose_targets(1, [node("a"), node("c")], rng=rng)] == ["a"]
    grown = [node("a"), node("b"), node("c")]
    assert [n.id for n in policy.choose_targets(2, grown, rng=rng)] == ["b", "c"]
    assert [n.id for n in policy.choose_targets(1, [node("b")], rng=rng)] == ["b"]


def test_round_robin_instances_do_not_share_state() -> None:
    nodes = [node("a"), node("b")]
    rng = random.Random(0)
    make_policy("round-robin").choose_targets(1, nodes, rng=rng)
    assert make_policy("round-robin").choose_targets(1, nodes, rng=rng)[0].id == "a"


def test_least_used_picks_emptiest_first() -> None:
    nodes = [
        node("half", capacity=1000, remaining=500),
        node("empty-big", capacity=10_000, remaining=9_000),  # 10 % used
        node("empty-busy", capacity=100, remaining=90, active=3),  # 10 % used, busier
        node("unknown", capacity=0, remaining=0),  # counts as 0 % used
        node("almost-full", capacity=1000, remaining=10),
    ]
    chosen = LeastUsedPlacement().choose_targets(4, nodes, rng=random.Random(0))
    assert [n.id for n in chosen] == ["unknown", "empty-big", "empty-busy", "half"]


# --------------------------------------------------------------------------- make_policy


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("default", DefaultPlacement),
        ("random", RandomPlacement),
        ("round-robin", RoundRobinPlacement),
        ("least-used", LeastUsedPlacement),
    ],
)
def test_make_policy_known_names(name: str, cls: type) -> None:
    policy: BlockPlacementPolicy = make_policy(name)
    assert isinstance(policy, cls)
    assert policy.name == name


def test_make_policy_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown placement policy 'nearest'") as info:
        make_policy("nearest")
    for name in ("default", "random", "round-robin", "least-used"):
        assert repr(name) in str(info.value)


# --------------------------------------------------------------------------- reads


def test_order_for_reader_local_then_rack_then_rest() -> None:
    nodes = [
        node("far", "/rack-b", active=0),
        node("rack-mate", "/rack-a", active=0),
        node("local", "/rack-a", host="reader", active=5),
    ]
    for seed in range(20):
        ordered = order_for_reader(nodes, "reader", random.Random(seed))
        assert [n.id for n in ordered] == ["local", "rack-mate", "far"]


def test_order_for_reader_uses_reader_rack_when_no_replica_is_local() -> None:
    nodes = [node("far", "/rack-b"), node("rack-mate", "/rack-a")]
    ordered = order_for_reader(nodes, "dn-without-replica", random.Random(0), reader_rack="/rack-a")
    assert [n.id for n in ordered] == ["rack-mate", "far"]


def test_order_for_reader_fewer_transfers_first_and_ties_shuffled() -> None:
    idle = [node(f"idle{i}") for i in range(4)]
    busy = node("busy", active=2)
    firsts: Counter[str] = Counter()
    for seed in range(400):
        ordered = order_for_reader([busy, *idle], None, random.Random(seed))
        assert ordered[-1] is busy
        assert sorted(n.id for n in ordered) == sorted(n.id for n in [busy, *idle])
        firsts[ordered[0].id] += 1
    assert set(firsts) == {n.id for n in idle}
    assert min(firsts.values()) > 50  # ~100 each


def test_order_for_reader_is_deterministic_and_leaves_input_alone() -> None:
    nodes = two_racks()
    snapshot = list(nodes)
    first = order_for_reader(nodes, "a1.local", random.Random(9))
    assert first == order_for_reader(list(reversed(nodes)), "a1.local", random.Random(9))
    assert nodes == snapshot
    assert first[0].id == "a1"
    assert {n.rack for n in first[1:3]} == {"/rack-a"}


# --------------------------------------------------------------------------- deletes


def test_choose_excess_prefers_a_rack_with_several_replicas_and_least_space() -> None:
    holders = [
        node("a-tight", "/rack-a", remaining=10),
        node("a-roomy", "/rack-a", remaining=500),
        node("b-tightest", "/rack-b", remaining=1),  # alone on its rack: kept
    ]
    assert [n.id for n in choose_excess(holders, 1)] == ["a-tight"]


def test_choose_excess_keeps_racks_covered() -> None:
    holders = [
        node("a1", "/rack-a", remaining=1),
        node("a2", "/rack-a", remaining=2),
        node("b1", "/rack-b", remaining=30),
        node("b2", "/rack-b", remaining=40),
    ]
    victims = choose_excess(holders, 2)
    assert [n.id for n in victims] == ["a1", "b1"]
    survivors = [n for n in holders if n not in victims]
    assert {n.rack for n in survivors} == {"/rack-a", "/rack-b"}


def test_choose_excess_one_rack_removes_least_space() -> None:
    holders = [node("x", remaining=5), node("y", remaining=3), node("z", remaining=9)]
    assert [n.id for n in choose_excess(holders, 2)] == ["y", "x"]


@pytest.mark.parametrize(("count", "expected"), [(-1, 0), (0, 0), (1, 1), (2, 2), (3, 2), (9, 2)])
def test_choose_excess_never_removes_the_last_replica(count: int, expected: int) -> None:
    holders = [node("a", "/r1"), node("b", "/r2"), node("c", "/r3")]
    victims = choose_excess(holders, count)
    assert len(victims) == expected
    assert len({n.id for n in victims}) == expected
    assert choose_excess([], count) == []
    assert choose_excess(holders[:1], count) == []


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    holders=st.lists(node_views, max_size=8, unique_by=lambda n: n.id),
    count=st.integers(min_value=0, max_value=10),
)
def test_choose_excess_count_property(holders: Sequence[NodeView], count: int) -> None:
    victims = choose_excess(holders, count)
    assert len(victims) == max(0, min(count, len(holders) - 1))
    assert len({n.id for n in victims}) == len(victims)
    assert all(v in holders for v in victims)
    survivors = [h for h in holders if h not in victims]
    if holders:
        # Deleting never loses a rack while another rack still holds spare replicas.
        assert len({h.rack for h in survivors}) == min(
            len({h.rack for h in holders}), len(survivors)
        )


# --------------------------------------------------------------------------- purity


def test_placement_module_imports_no_io_or_clock() -> None:
    assert placement_module.__file__ is not None
    tree = ast.parse(Path(placement_module.__file__).read_text(encoding="utf-8"))
    forbidden = {"fastapi", "httpx", "asyncio", "os", "time"}
    imported: set[str] = set()
    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in stmt.names)
        elif isinstance(stmt, ast.ImportFrom) and stmt.module is not None:
            imported.add(stmt.module.split(".")[0])
    assert not imported & forbidden
    # Randomness only through the injected generator: no `random.choice(...)` and the like.
    module_random_calls = [
        call
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "random"
    ]
    assert module_random_calls == []
