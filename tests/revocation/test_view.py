"""``RevocationView`` without Redis: what each message and snapshot does to the view, which
entries refuse their token at a given time, when entries are forgotten, and when the view
may answer at all. The same view runs inside the Redis store (``test_redis_local_view.py``
checks it there, on the real server).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from jwt_middleware.revocation.view import RevocationView, message_deadline

NOW = 1_700_000_000.0
LATER = 1_700_000_600


def message(data: Any, kind: str = "message") -> dict[str, Any]:
    """A message as ``redis.asyncio``'s pub/sub hands it over."""
    return {"type": kind, "pattern": None, "channel": b"jwt:revoked:", "data": data}


# --- messages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "well_formed", "held"),
    [
        pytest.param(f"{LATER} abc", True, {"abc": LATER}, id="integer"),
        pytest.param(f"{LATER} abc".encode(), True, {"abc": LATER}, id="bytes"),
        pytest.param(f"{LATER}.25 abc", True, {"abc": LATER + 1}, id="fraction-rounded-up"),
        pytest.param(f"{LATER}.000001 abc", True, {"abc": LATER + 1}, id="just-past-a-second"),
        pytest.param(f"{LATER}.0 abc", True, {"abc": LATER}, id="whole-decimal"),
        pytest.param("1e9 abc", True, {"abc": 1e9}, id="exponent"),
        pytest.param(f"{LATER} a b", True, {"a b": LATER}, id="jti-with-a-space"),
        pytest.param(f"{LATER} ", True, {}, id="empty-jti"),
        pytest.param("-5 abc", True, {"abc": -5}, id="negative-deadline"),
        pytest.param("nan abc", False, {}, id="nan"),
        pytest.param("inf abc", False, {}, id="inf"),
        pytest.param("-inf abc", False, {}, id="minus-inf"),
        pytest.param("1e999 abc", False, {}, id="float-overflow"),
        pytest.param("9" * 400 + " abc", False, {}, id="int-no-float-holds"),
        pytest.param("12x3 abc", False, {}, id="junk-number"),
        pytest.param("no-deadline\r\nFAKE LOG LINE", False, {}, id="junk"),
        pytest.param("", False, {}, id="empty"),
        pytest.param(b"\xff\xfe abc", False, {}, id="not-utf8"),
        pytest.param(12345, True, {}, id="number-without-jti"),
    ],
)
def test_a_message_adds_what_it_names(data: Any, well_formed: bool, held: dict[str, float]) -> None:
    view = RevocationView()
    assert view.apply(message(data)) is well_formed
    assert dict(view.entries) == held


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("message", id="publish"),
        pytest.param("smessage", id="sharded-publish-in-a-cluster"),
    ],
)
def test_both_kinds_of_published_message_are_revocations(kind: str) -> None:
    view = RevocationView()
    assert view.apply(message(f"{LATER} abc", kind=kind)) is True
    assert view.apply(message("junk", kind=kind)) is False
    assert dict(view.entries) == {"abc": LATER}


@pytest.mark.parametrize(
    "kind",
    ["subscribe", "unsubscribe", "ssubscribe", "sunsubscribe", "pong", "pmessage", None],
    ids=str,
)
def test_other_message_types_are_no_revocation(kind: str | None) -> None:
    view = RevocationView()
    assert view.apply(message(f"{LATER} abc", kind=kind)) is True  # type: ignore[arg-type]
    assert len(view) == 0


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        pytest.param("10 x", (10.0, "x"), id="integer"),
        pytest.param("10.5 x", (11.0, "x"), id="fraction"),
        pytest.param("10", (10.0, ""), id="no-jti"),
        pytest.param(" 10 x", None, id="leading-space"),
        pytest.param("nan x", None, id="nan"),
    ],
)
def test_message_deadline(text: str, parsed: tuple[float, str] | None) -> None:
    assert message_deadline(text) == parsed


# --- deadlines -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadlines", "kept"),
    [
        pytest.param([LATER], LATER, id="one"),
        pytest.param([LATER, LATER + 60], LATER + 60, id="later-wins"),
        pytest.param([LATER + 60, LATER], LATER + 60, id="earlier-does-not-shorten"),
        pytest.param([LATER, math.inf, LATER], math.inf, id="for-good-stays"),
    ],
)
def test_an_entry_only_moves_later(deadlines: list[float], kept: float) -> None:
    view = RevocationView()
    for deadline in deadlines:
        view.remember("abc", deadline)
    assert view.deadline("abc") == kept


@pytest.mark.parametrize(
    ("deadline", "now", "revoked"),
    [
        pytest.param(NOW + 30, NOW, True, id="before"),
        pytest.param(NOW + 30, NOW + 29.999, True, id="just-before"),
        pytest.param(NOW + 30, NOW + 30, False, id="at-the-deadline"),
        pytest.param(NOW + 30, NOW + 3600, False, id="long-after"),
        pytest.param(math.inf, NOW + 1e9, True, id="for-good"),
        pytest.param(None, NOW, False, id="never-revoked"),
    ],
)
def test_is_revoked_at_a_time(deadline: float | None, now: float, revoked: bool) -> None:
    view = RevocationView()
    if deadline is not None:
        view.remember("abc", deadline)
    assert view.is_revoked("abc", now) is revoked
    assert view.is_revoked("other", now) is False


def test_forget_expired_drops_only_expired_entries() -> None:
    view = RevocationView()
    view.remember("expired", NOW - 1)
    view.remember("at-now", NOW)
    view.remember("later", NOW + 1)
    view.remember("for-good", math.inf)
    assert view.forget_expired(NOW) == 2
    assert set(view.entries) == {"later", "for-good"}
    assert view.forget_expired(NOW) == 0


# --- snapshots -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "snapshot", "after"),
    [
        pytest.param({}, [("a", 60_000)], {"a": NOW + 60}, id="ttl-in-milliseconds"),
        pytest.param({}, [("a", 1_500)], {"a": NOW + 1.5}, id="fraction-of-a-second"),
        pytest.param({}, [("a", 0)], {"a": NOW}, id="zero-left"),
        pytest.param({}, [("a", -1)], {"a": math.inf}, id="no-ttl-kept-for-good"),
        pytest.param({}, [("a", -2)], {}, id="gone-meanwhile"),
        pytest.param({}, [("a", -3)], {}, id="other-negative"),
        pytest.param({}, [("a", 10**30)], {"a": NOW + 10**27}, id="huge-ttl"),
        pytest.param(
            {"a": NOW + 600}, [("a", 60_000)], {"a": NOW + 600}, id="keeps-the-later-deadline"
        ),
        pytest.param(
            {"a": NOW + 10}, [("a", 60_000)], {"a": NOW + 60}, id="moves-a-deadline-later"
        ),
        pytest.param(
            {"heard-by-message": NOW + 60},
            [("b", 1_000)],
            {"heard-by-message": NOW + 60, "b": NOW + 1},
            id="adds-never-takes-away",
        ),
        pytest.param(
            {}, [("a", 1_000), ("b", -1), ("c", -2)], {"a": NOW + 1, "b": math.inf}, id="several"
        ),
    ],
)
def test_a_snapshot_adds_to_the_view(
    before: dict[str, float], snapshot: list[tuple[str, int]], after: dict[str, float]
) -> None:
    """A snapshot merges into the view rather than replacing it: a revocation heard by
    message while SCAN walked past its key, or a key deleted by hand, must still refuse
    its token (a revocation is never taken back before the token expires)."""
    view = RevocationView()
    for jti, deadline in before.items():
        view.remember(jti, deadline)
    view.apply_snapshot(snapshot, now=NOW)
    assert dict(view.entries) == after


# --- whether the view may answer -------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "asked_at", "current"),
    [
        pytest.param([], 0.0, False, id="new-view"),
        pytest.param([("confirm", 100.0)], 100.0, True, id="just-confirmed"),
        pytest.param([("confirm", 100.0)], 100.999, True, id="within-staleness"),
        pytest.param([("confirm", 100.0)], 101.0, False, id="at-staleness-bound"),
        pytest.param([("confirm", 100.0)], 500.0, False, id="stale"),
        pytest.param([("confirm", 100.0), ("lose", 0.0)], 100.5, False, id="lost"),
        pytest.param(
            [("confirm", 100.0), ("lose", 0.0), ("confirm", 100.4)], 101.2, True, id="regained"
        ),
        pytest.param([("confirm", 100.0), ("confirm", 100.8)], 101.5, True, id="extended"),
    ],
)
def test_the_view_is_current_until_its_staleness_bound(
    steps: list[tuple[str, float]], asked_at: float, current: bool
) -> None:
    view = RevocationView(max_staleness_seconds=1.0)
    for step, at in steps:
        if step == "confirm":
            view.confirm(at)
        else:
            view.lose()
    assert view.is_current(asked_at) is current


def test_losing_the_view_keeps_its_entries() -> None:
    """A lost view stops answering, but what it held is still true when it is back."""
    view = RevocationView()
    view.remember("abc", NOW + 60)
    view.confirm(100.0)
    view.lose()
    assert view.deadline("abc") == NOW + 60


@pytest.mark.parametrize(
    "staleness", [0, -1, math.nan, math.inf], ids=["zero", "negative", "nan", "inf"]
)
def test_the_staleness_bound_is_positive_and_finite(staleness: float) -> None:
    with pytest.raises(ValueError, match="max_staleness_seconds"):
        RevocationView(max_staleness_seconds=staleness)


def test_repr_shows_no_jti() -> None:
    view = RevocationView()
    view.remember("secret-jti", NOW + 60)
    assert "secret-jti" not in repr(view)


@pytest.mark.parametrize(
    ("confirmed_at", "asked_at", "wall_now", "expected", "clock_read"),
    [
        pytest.param(None, 100.0, NOW, None, False, id="not-current"),
        pytest.param(100.0, 101.0, NOW, None, False, id="stale"),
        pytest.param(100.0, 100.5, NOW, True, True, id="revoked"),
        pytest.param(100.0, 100.5, NOW + 60, False, True, id="expired"),
    ],
)
def test_answer_is_is_revoked_while_current(
    confirmed_at: float | None,
    asked_at: float,
    wall_now: float,
    expected: bool | None,
    clock_read: bool,
) -> None:
    """The store's one call per request: ``None`` sends it to Redis."""
    view = RevocationView(max_staleness_seconds=1.0)
    view.remember("abc", NOW + 60)
    if confirmed_at is not None:
        view.confirm(confirmed_at)
    reads: list[float] = []

    def clock() -> float:
        reads.append(wall_now)
        return wall_now

    assert view.answer("abc", asked_at, clock) is expected
    assert bool(reads) is clock_read
    if confirmed_at is not None and expected is not None:
        reads.clear()
        assert view.answer("never-revoked", asked_at, clock) is False
        assert reads == []  # no wall clock read for an id the view does not hold
