from __future__ import annotations

from decision_shop import NOW, config_push, deploy, shop

from selfheal.core.platform import ChangeKind, ServiceState
from selfheal.monitoring.changes import ChangeTracker


def test_tracker_reports_deploys_config_pushes_and_scaling() -> None:
    t = ChangeTracker()
    assert (
        t.observe([ServiceState("cart", ("cart-0",), version="v1", config_revision=1)], NOW) == ()
    )
    events = t.observe(
        [ServiceState("cart", ("cart-0", "cart-1"), version="v2", config_revision=2)], NOW + 5
    )
    assert {(e.kind, e.before, e.after) for e in events} == {
        (ChangeKind.DEPLOY, "v1", "v2"),
        (ChangeKind.CONFIG, "1", "2"),
        (ChangeKind.SCALE, "1", "2"),
    }
    assert all(e.at == NOW + 5 for e in events)
    assert len(t.events) == 3


def test_tracker_forgets_old_events() -> None:
    t = ChangeTracker(keep_seconds=10)
    t.observe([ServiceState("cart", version="v1")], NOW)
    t.observe([ServiceState("cart", version="v2")], NOW + 1)
    t.observe([ServiceState("cart", version="v2")], NOW + 20)
    assert t.events == ()


def test_recent_changes_newest_first_and_filtered() -> None:
    ctx = shop(changes=(deploy("cart", NOW - 30), config_push("cart", NOW - 10), deploy("x", NOW)))
    assert [c.kind for c in ctx.recent_changes("cart", NOW - 60)] == [
        ChangeKind.CONFIG,
        ChangeKind.DEPLOY,
    ]
    assert ctx.recent_changes("cart", NOW - 20, ChangeKind.DEPLOY) == ()


def test_instance_counts_and_dependents() -> None:
    ctx = shop(unready={"cart": frozenset({"cart-1"})})
    cart = ctx.services["cart"]
    assert (cart.instances_total, cart.instances_ready) == (3, 2)
    assert ctx.dependents_of("bank") == ("payment",)


def test_expected_changes_are_labelled_as_the_loops_own() -> None:
    t = ChangeTracker()
    t.observe([ServiceState("cart", config_revision=1, version="v1")], NOW)
    t.expect("cart", ChangeKind.CONFIG, until=NOW + 30)
    (own,) = t.observe([ServiceState("cart", config_revision=2, version="v1")], NOW + 10)
    assert own.by_selfheal
    (theirs,) = t.observe([ServiceState("cart", config_revision=3, version="v1")], NOW + 40)
    assert not theirs.by_selfheal


def test_a_push_soon_after_the_loops_own_change_is_someone_elses() -> None:
    # the loop restored the config (its change seen at +10); a bad push at +25 is still
    # inside the span the loop expected its change in, but its change was already seen
    t = ChangeTracker(settle_seconds=5)
    t.observe([ServiceState("cart", config_revision=1, version="v1")], NOW)
    t.expect("cart", ChangeKind.CONFIG, until=NOW + 90)
    (own,) = t.observe([ServiceState("cart", config_revision=2, version="v1")], NOW + 10)
    assert own.by_selfheal
    (straggler,) = t.observe([ServiceState("cart", config_revision=3, version="v1")], NOW + 13)
    assert straggler.by_selfheal  # within the settle time: the same change landing
    (pushed,) = t.observe([ServiceState("cart", config_revision=4, version="v1")], NOW + 25)
    assert not pushed.by_selfheal
