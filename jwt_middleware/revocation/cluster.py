"""What a Redis Cluster changes for the revocation store: where a revocation is announced,
where its view listens, and where the view reads its snapshot.

Needs the ``redis`` extra. In a cluster a revocation's key lives on the primary that owns
its hash slot, while the channel that announces it lives on the primary owning the
channel's slot, so the two cannot share a ``MULTI``. The store writes the key first and
announces it with ``SPUBLISH`` (sharded pub/sub, Redis 7) after: a view that subscribed
before the announcement hears it, and one that subscribed after reads the key in its
snapshot (it subscribes before it reads), so no order of events loses a revocation.

Sharded pub/sub delivers a message to the subscribers of its channel's shard only, so
every revocation passes through one primary (and its replicas), and the heartbeat ``PING``
on that one connection proves the view current, as on a single Redis.
:func:`channel_subscriber` opens that connection: a plain client to the channel's primary,
built with the cluster client's own connection settings (password, TLS, timeouts), which
the follower owns and closes. A dead primary, a moved slot or a subscription renewed by
the client ends the follower's session, and it starts over: a fresh look at which primary
owns the channel, a new subscription, a new snapshot.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster

__all__ = ["channel_subscriber", "check_cluster_support", "keys_on_every_primary"]


def check_cluster_support() -> None:
    """Raise :class:`TypeError` when the installed redis-py has no sharded pub/sub for
    asyncio (``SSUBSCRIBE``/``SPUBLISH``), which the cluster path needs."""
    if not (hasattr(PubSub, "ssubscribe") and hasattr(RedisCluster, "spublish")):
        raise TypeError(
            "a RedisCluster client needs a redis-py with sharded pub/sub for asyncio "
            "(PubSub.ssubscribe); upgrade the redis package"
        )


async def channel_subscriber(client: RedisCluster, channel: str) -> Redis:
    """A new client connected to the primary that owns ``channel``'s slot now.

    A keyed read routed like the channel comes first: on a dead primary or a ``MOVED``
    answer, the cluster client refreshes its map of the slots (raising this time), so the
    next attempt, after the failover, finds the new primary.
    """
    await client.exists(channel)
    node = client.get_node_from_key(channel)
    if node is None:  # the slot is not served (a failover is under way)
        raise ConnectionError("no primary serves the revocation channel's slot")
    pool = ConnectionPool(
        connection_class=node.connection_class, max_connections=1, **node.connection_kwargs
    )
    return Redis(connection_pool=pool)


async def keys_on_every_primary(client: RedisCluster, pattern: str) -> AsyncGenerator[bytes, None]:
    """Every key matching ``pattern``, by ``SCAN`` on each primary in turn (redis-py's
    cluster ``scan_iter``); a primary that does not answer raises."""
    async for key in client.scan_iter(match=pattern, count=1000):
        yield key
