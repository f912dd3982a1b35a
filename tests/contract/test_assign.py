"""Sticky assignment (lifecycle/assign.py): deterministic, documented, and the share holds."""

from __future__ import annotations

import uuid

from lifecycle.assign import BUCKETS, bucket, in_canary


def test_a_30_percent_split_gives_30_percent_within_2_points_over_10000_random_ids():
    ids = [str(uuid.uuid4()) for _ in range(10_000)]
    share = sum(in_canary("sentiment", 2, 30.0, i) for i in ids) / len(ids)
    print(f"canary share over 10,000 random ids at 30%: {share:.4f}")
    assert abs(share - 0.30) <= 0.02


def test_the_same_client_always_gets_the_same_arm_and_raising_the_share_only_adds_clients():
    ids = [f"client-{n:05d}" for n in range(2_000)]
    at_10 = {i for i in ids if in_canary("emotion", 3, 10.0, i)}
    assert at_10 == {i for i in ids if in_canary("emotion", 3, 10.0, i)}  # sticky
    at_50 = {i for i in ids if in_canary("emotion", 3, 50.0, i)}
    assert at_10 < at_50  # nobody leaves the canary when its share grows
    assert not any(in_canary("emotion", 3, 0.0, i) for i in ids)
    assert all(in_canary("emotion", 3, 100.0, i) for i in ids)


def test_the_hash_is_the_documented_one_and_a_new_canary_version_draws_again():
    import hashlib

    digest = hashlib.sha256(b"imagenet\n4\nabc-123").digest()
    assert bucket("imagenet", 4, "abc-123") == int.from_bytes(digest[:8], "big") % BUCKETS
    ids = [f"c{n}" for n in range(2_000)]
    first = {i for i in ids if in_canary("imagenet", 4, 30.0, i)}
    second = {i for i in ids if in_canary("imagenet", 5, 30.0, i)}
    overlap = len(first & second) / len(first)
    assert 0.2 < overlap < 0.4  # independent draws overlap by about the share itself
