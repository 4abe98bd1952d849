"""``KidURLKeys``: verification keys fetched one PEM file per ``kid``, from a URL template,
as AWS ALB publishes its keys (``JWT_ALB_REGION``, ``JWT_KEY_URL_TEMPLATE``).

    keys = KidURLKeys(KeyURLTemplate.parse("https://public-keys.auth.elb.eu-west-1.amazonaws.com/{kid}"))
    verifier = TokenVerifier(settings, keys=keys)

There is no key set to fetch: the key of a ``kid`` is at that ``kid``'s URL, and only a
token says which ``kid`` to ask for. Since a token is anyone's to write, everything here
assumes the ``kid`` is hostile:

* **What goes into the URL.** A ``kid`` is put into the template only when it is 1 to 64
  letters, digits, ``-`` or ``_`` (:meth:`~jwt_middleware.settings.alb.KeyURLTemplate.url`);
  any other ``kid`` (a dot, a slash, a ``%``, non-ASCII, longer) gets no key and causes no
  fetch. The template itself allows the ``kid`` one path segment and nothing else.
* **How many fetches.** A ``kid`` that is not held is fetched only within a budget of
  ``new_kids_per_minute`` fetches a minute (in bursts of as many), one fetch per ``kid``
  shared by every request that waits for it. A ``kid`` the key host does not know (404, or
  403 as S3 answers for a missing object) is remembered for a minute and answered with no
  key at once; past the budget, an unknown ``kid`` gets no key either, without a fetch.
  So a flood of made-up ``kid`` values costs at most that many fetches a minute, and the
  token is refused with 401 (``unknown_kid``), as for a ``kid`` no JWK Set holds.
* **How much memory.** At most ``max_keys`` keys are held, the least recently used
  forgotten first; at most :data:`MAX_MISSES` ``kid`` values remembered as missing or
  failing.
* **How long.** A whole fetch must fit in ``timeout_seconds``; an answer larger than
  ``max_response_bytes`` (decompressed) is refused unread; redirects are not followed.
* **Which key.** The answer must be one PEM ``PUBLIC KEY`` that fits the pinned algorithm
  (ES256 for ALB: a P-256 key), bound to it by configuration; nothing in the token or the
  answer chooses the algorithm. Anything else is a failed fetch.

A held key is used for ``cache_seconds`` and then fetched again in the background while it
keeps answering (at most once per ``min_refetch_seconds`` per ``kid``); if the key host
then says the ``kid`` is gone, the key is dropped. When the key host cannot be reached, is
slow, or answers an error or something that is not a key, the keys held keep working (for
ever, or for ``max_stale_seconds``), and a token whose ``kid`` is not held gets
:class:`~jwt_middleware.errors.KeysUnavailableError` (503 with ``Retry-After``): it may well
be valid. That ``kid`` is tried again after ``min_refetch_seconds``.

Readiness (:attr:`KidURLKeys.available`): no key can be fetched before a token names one,
so a new instance holds none and is ready all the same. It stops being ready when a fetch
failed (not "no such key": the host did not answer, or answered an error) and it holds no
usable key, so that every token would get 503; :meth:`KidURLKeys.prefetch`, which a
readiness probe calls then, fetches that ``kid`` again, and the instance is ready once the
key host answers.

The log names the template (``https://host/{kid}``), never a ``kid``: it comes from the token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import httpx
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ..algorithms import ASYMMETRIC_ALGORITHMS, key_fits
from ..errors import KeysUnavailableError
from ..settings.alb import ALB_KEY_ALGORITHM, KeyURLTemplate
from ..telemetry import Telemetry, instruments
from ..types import BoundKey
from .http import FetchError, UnexpectedStatusError, fetch_capped
from .jwks import JWKSOptions
from .refetch import TokenBucket, join

__all__ = ["MAX_MISSES", "MISSING_KID_SECONDS", "KidURLKeys"]

logger = logging.getLogger(__name__)

#: At most this many ``kid`` values are remembered as missing or failing, oldest forgotten.
MAX_MISSES: Final = 1024
#: A ``kid`` the key host said it does not know is answered without a fetch this long.
MISSING_KID_SECONDS: Final = 60.0
#: What the key host answers for a ``kid`` it does not hold (S3 answers 403).
_ABSENT_STATUSES: Final = frozenset({403, 404, 410})
_ACCEPT: Final = "application/x-pem-file, text/plain, */*"
_PEM_PUBLIC_KEY: Final = b"-----BEGIN PUBLIC KEY-----"


@dataclass(slots=True, eq=False)
class _Held:
    """The key of one ``kid``: when it was fetched, and when a fetch of it last started."""

    keys: tuple[BoundKey, ...]
    fetched_at: float
    attempted_at: float


@dataclass(frozen=True, slots=True)
class _Miss:
    """A ``kid`` without a key: when it was asked for, and whether the host said it has
    none (``absent``) or could not answer."""

    at: float
    absent: bool


class KidURLKeys:
    """A :class:`~jwt_middleware.keys.source.KeySource` fetching one PEM key per ``kid``.

    Args:
        template: where a ``kid``'s key is (:class:`~jwt_middleware.settings.alb.KeyURLTemplate`).
        algorithm: the one algorithm every key is bound to (ES256, what ALB signs with).
        options: fetch timeout, cache time, refetch interval and staleness
            (:class:`~.jwks.JWKSOptions`, the ``JWT_JWKS_*`` settings).
        max_keys: keys held at most, the least recently used forgotten first.
        new_kids_per_minute: fetches of ``kid`` values not held, per minute and in a burst.
        max_response_bytes: a larger answer (after decompression) is refused.
        client: an ``httpx.AsyncClient`` to fetch with, left open by :meth:`aclose`; one is
            created on first use otherwise.
        clock: a monotonic clock in seconds; tests pass a fake one.
        telemetry: report each fetch (a span, a count by outcome) and the keys held through
            OpenTelemetry, when it is installed (:mod:`~jwt_middleware.telemetry`); the
            source is named by its template, never by a ``kid``.
    """

    __slots__ = (
        "__weakref__",
        "_algorithm",
        "_bucket",
        "_client",
        "_clock",
        "_failing",
        "_flights",
        "_held",
        "_log_url",
        "_max_bytes",
        "_max_keys",
        "_misses",
        "_options",
        "_owned_client",
        "_retry_kid",
        "_telemetry",
        "_template",
        "fetches",
    )

    def __init__(
        self,
        template: KeyURLTemplate,
        *,
        algorithm: str = ALB_KEY_ALGORITHM,
        options: JWKSOptions | None = None,
        max_keys: int = 32,
        new_kids_per_minute: int = 10,
        max_response_bytes: int = 16_384,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        telemetry: bool = True,
    ) -> None:
        if not isinstance(template, KeyURLTemplate):
            raise TypeError("template must be a KeyURLTemplate (KeyURLTemplate.parse(url))")
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise ValueError("algorithm must be an asymmetric signature algorithm, e.g. ES256")
        for name, value in [
            ("max_keys", max_keys),
            ("new_kids_per_minute", new_kids_per_minute),
            ("max_response_bytes", max_response_bytes),
        ]:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int")
        self._template = template
        self._log_url = template.prefix + "{kid}" + template.suffix
        self._algorithm = algorithm
        self._options = options if options is not None else JWKSOptions()
        self._max_keys = max_keys
        self._max_bytes = max_response_bytes
        self._bucket = TokenBucket(per_minute=new_kids_per_minute, clock=clock)
        self._client = client
        self._owned_client: httpx.AsyncClient | None = None
        self._clock = clock
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._misses: OrderedDict[str, _Miss] = OrderedDict()
        self._flights: dict[str, asyncio.Task[None]] = {}
        self._failing = False
        self._retry_kid: str | None = None
        #: Fetches started, successful or not (for monitoring, and the kid-flood tests).
        self.fetches = 0
        self._telemetry: Telemetry | None = instruments() if telemetry else None
        if self._telemetry is not None:
            self._telemetry.key_sets.add(self)

    @property
    def url(self) -> str:
        """The template, ``{kid}`` in place, as the log shows it."""
        return self._log_url

    @property
    def source(self) -> str:
        """How metrics name it: :attr:`url`, the template (a ``kid`` is the token's text)."""
        return self._log_url

    @property
    def age_seconds(self) -> float | None:
        """Seconds since the last key was fetched successfully, or ``None`` before any."""
        if not self._held:
            return None
        return self._clock() - max(held.fetched_at for held in self._held.values())

    @property
    def key_count(self) -> int:
        """The keys held."""
        return len(self._held)

    @property
    def depends_on_header(self) -> bool:
        return True

    def keys_now(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey] | None:
        """The key of ``kid`` if it is held and young enough; nothing, at once, for a
        ``kid`` that cannot be fetched (not one to put in a URL, or missing lately) or
        another algorithm; else ``None``, to await :meth:`keys`."""
        if algorithm != self._algorithm:
            return ()
        held = self._held.get(kid) if isinstance(kid, str) else None
        if held is None:
            return None if self._may_be_fetched(kid) else ()
        assert isinstance(kid, str)  # held: a kid we put into a URL
        now = self._clock()
        age = now - held.fetched_at
        max_stale = self._options.max_stale_seconds
        if max_stale is not None and age > max_stale:
            return None  # too old to trust without trying a fetch first
        if (
            age >= self._options.cache_seconds
            and kid not in self._flights
            and now - held.attempted_at >= self._options.min_refetch_seconds
        ):
            self._start(kid)  # in the background: the key keeps answering
        self._held.move_to_end(kid)  # used: the last to be forgotten
        return held.keys

    async def keys(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey]:
        """The key of ``kid``, fetched first if it is not held and may be (within the
        budget). Raises :class:`~jwt_middleware.errors.KeysUnavailableError` when the key
        host could not answer and no usable key of that ``kid`` is held."""
        known = self.keys_now(algorithm, kid)
        if known is not None:
            return known
        assert isinstance(kid, str)  # keys_now answers () for anything else
        flight = self._flights.get(kid)
        if flight is None:
            held, miss = self._held.get(kid), self._misses.get(kid)
            attempted = held.attempted_at if held is not None else miss.at if miss else None
            if attempted is not None and (
                self._clock() - attempted < self._options.min_refetch_seconds
            ):
                raise KeysUnavailableError  # its fetch failed just now: not again so soon
            if held is None and not self._bucket.take():
                logger.debug("no key for this token; key fetches for new kids used up")
                return ()
            flight = self._start(kid)
        await join(flight)
        answer = self.keys_now(algorithm, kid)
        if answer is not None and (answer or not self._may_be_fetched(kid)):
            return answer
        raise KeysUnavailableError

    @property
    def available(self) -> bool:
        """``False`` only while the key host fails (not "no such key": unreachable, or an
        error) and no usable key is held: see the module's documentation."""
        if not self._failing:
            return True
        max_stale = self._options.max_stale_seconds
        if max_stale is None:
            return bool(self._held)
        now = self._clock()
        return any(now - held.fetched_at <= max_stale for held in self._held.values())

    async def prefetch(self) -> None:
        """Fetch again the ``kid`` whose fetch failed last, if the key host is failing
        (what a readiness probe calls); nothing otherwise, as no ``kid`` is known before a
        token names one. Never raises: a failure is logged."""
        kid = self._retry_kid
        if self._failing and kid is not None:
            await join(self._flights.get(kid) or self._start(kid))

    async def aclose(self) -> None:
        """Cancel the fetches in flight and close the HTTP client this instance created."""
        flights = list(self._flights.values())
        for flight in flights:
            flight.cancel()
        if flights:
            await asyncio.wait(flights)
        if self._owned_client is not None:
            client, self._owned_client = self._owned_client, None
            await client.aclose()

    def __repr__(self) -> str:
        return f"KidURLKeys({self._log_url!r}, <{len(self._held)} keys>)"

    # --- fetching ------------------------------------------------------------------------

    def _may_be_fetched(self, kid: object) -> bool:
        """Whether a ``kid`` not held may be asked for: one to put in a URL, and not one the
        key host said lately it does not know."""
        if self._template.url(kid) is None:
            return False
        assert isinstance(kid, str)
        miss = self._misses.get(kid)
        return not (
            miss is not None and miss.absent and self._clock() - miss.at < MISSING_KID_SECONDS
        )

    def _start(self, kid: str) -> asyncio.Task[None]:
        now = self._clock()
        held = self._held.get(kid)
        if held is not None:
            held.attempted_at = now
        self.fetches += 1
        task = asyncio.create_task(self._fetch(kid))
        self._flights[kid] = task
        task.add_done_callback(lambda done: self._landed(kid, done))
        return task

    def _landed(self, kid: str, task: asyncio.Task[None]) -> None:
        if self._flights.get(kid) is task:
            del self._flights[kid]
        if not task.cancelled() and (error := task.exception()) is not None:
            # A bug, not a bad key host: those are handled inside the fetch itself.
            logger.error("key fetch from %s crashed", self._log_url, exc_info=error)

    async def _fetch(self, kid: str) -> None:
        if self._telemetry is None:
            await self._fetch_once(kid)
            return
        with self._telemetry.key_fetch("pem", self._log_url) as outcome:
            outcome(await self._fetch_once(kid))

    async def _fetch_once(self, kid: str) -> str:
        """Fetch the key of ``kid`` and hold it; the outcome, one word (as metrics count
        it): ``success``, ``absent`` (the host does not know it), ``timeout``,
        ``unreachable`` or ``bad_response``."""
        url = self._template.url(kid)
        assert url is not None
        timeout = self._options.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                body = await fetch_capped(
                    self._http(),
                    url,
                    max_bytes=self._max_bytes,
                    accept=_ACCEPT,
                    operation_timeout_seconds=timeout,
                )
            key = _public_key(body, self._algorithm)
        except UnexpectedStatusError as exc:
            if exc.status_code in _ABSENT_STATUSES:
                self._absent(kid)
                return "absent"
            self._failed(kid, str(exc))
            return "bad_response"
        except TimeoutError:
            self._failed(kid, f"timed out after {timeout:g}s")
            return "timeout"
        except httpx.HTTPError as exc:
            self._failed(kid, type(exc).__name__)
            return "unreachable"
        except FetchError as exc:
            self._failed(kid, str(exc))
            return "bad_response"
        self._got(kid, BoundKey(self._algorithm, key, kid))
        return "success"

    def _got(self, kid: str, key: BoundKey) -> None:
        now = self._clock()
        self._held[kid] = _Held((key,), fetched_at=now, attempted_at=now)
        self._held.move_to_end(kid)
        while len(self._held) > self._max_keys:
            self._held.popitem(last=False)
        self._misses.pop(kid, None)
        self._failing = False
        logger.info("key fetched from %s (%d held)", self._log_url, len(self._held))

    def _absent(self, kid: str) -> None:
        """The key host does not know ``kid`` (or no longer: a withdrawn key is dropped)."""
        if self._held.pop(kid, None) is not None:
            logger.warning("a key held is gone from %s: dropped", self._log_url)
        self._miss(kid, absent=True)
        self._failing = False  # the host answered

    def _failed(self, kid: str, reason: str) -> None:
        logger.warning("key fetch from %s failed: %s", self._log_url, reason)
        if kid not in self._held:  # a held key keeps answering, however old
            self._miss(kid, absent=False)
        self._failing, self._retry_kid = True, kid

    def _miss(self, kid: str, *, absent: bool) -> None:
        self._misses[kid] = _Miss(self._clock(), absent)
        self._misses.move_to_end(kid)
        while len(self._misses) > MAX_MISSES:
            self._misses.popitem(last=False)

    def _http(self) -> httpx.AsyncClient:
        if self._client is not None:
            return self._client
        if self._owned_client is None:
            self._owned_client = httpx.AsyncClient(follow_redirects=False)
        return self._owned_client


def _public_key(body: bytes, algorithm: str) -> object:
    """The one PEM public key of ``body``, if it fits ``algorithm``; else
    :class:`~.http.FetchError` with a fixed message."""
    text = body.strip()
    if not text.startswith(_PEM_PUBLIC_KEY) or text.count(b"-----BEGIN") != 1:
        raise FetchError("answer is not one PEM public key")
    try:
        key = load_pem_public_key(text)
    except (ValueError, TypeError):
        raise FetchError("answer is not one PEM public key") from None
    if not key_fits(key, algorithm):
        raise FetchError(f"key does not fit {algorithm}")
    return key
