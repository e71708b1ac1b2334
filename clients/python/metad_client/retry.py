"""Deadlines, retries and credentials for every unary call of a Client.

What is retried (the project's rule: retry only what is safe to retry) comes
from each method's `idempotency_level` in proto/metad/v1 (kind_of):
  * NO_SIDE_EFFECTS: reads (Get*, List*),
  * IDEMPOTENT with a request_id in the request: creating calls (StartRun,
    ClaimFiles, RegisterFile(s), RegisterTask, AddDependency). The daemon
    answers a repeated request_id with the result of the first call
    (ClaimFiles: the files the first call claimed, never a second set). The
    interceptor gives such a request a fresh request_id when it has none,
    and keeps it across attempts,
  * IDEMPOTENT without one (CompleteFile, FinishRun, Heartbeat, CancelRun,
    RecordOutputs, PruneHistory): the daemon answers a repeat of a call that
    took effect as it answered the first (replayed=true),
and only when the status is one of RetryPolicy.codes (UNAVAILABLE, ABORTED).
Methods without the option (ResetFile, ReprocessFiles, RerunTasks,
DeleteTask, RemoveDependency) are tried once: a repeat of one that did reach
the database would be refused as if it had failed.

A call's timeout (the caller's, or Client's default) bounds the whole call,
all attempts and backoff sleeps included.
"""

import collections
import dataclasses
import functools
import random
import time
import uuid

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool

# Registers the metad.v1 descriptors whose options kind_of() reads.
from metad_client import _stubs  # noqa: F401

_RETRY_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED})


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits a random time in
    [0, min(max_backoff, initial_backoff * multiplier**(n-1))]."""

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    multiplier: float = 2.0
    codes: frozenset = _RETRY_CODES

    def backoff(self, attempt, rng=random):
        cap = min(self.max_backoff,
                  self.initial_backoff * self.multiplier ** (attempt - 1))
        return rng.uniform(0, cap)


NO_RETRY = RetryPolicy(max_attempts=1)


class _CallDetails(
        collections.namedtuple(
            "_CallDetails",
            ("method", "timeout", "metadata", "credentials", "wait_for_ready",
             "compression")),
        grpc.ClientCallDetails):
    pass


READ, CREATING, IDEMPOTENT, ONCE = "read", "creating", "idempotent", "once"


@functools.lru_cache(maxsize=None)
def kind_of(method):
    """READ, CREATING, IDEMPOTENT or ONCE for a full method name
    ('/metad.v1.FileService/GetFile'), from the method's idempotency_level
    in the proto (proto/metad/v1/options.proto): NO_SIDE_EFFECTS is a read;
    IDEMPOTENT is creating when the request has a request_id field, else
    idempotent; unset, or a method the descriptors do not know, is once."""
    if isinstance(method, bytes):
        method = method.decode()
    service, _, name = method.lstrip("/").partition("/")
    try:
        descriptor = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
    except KeyError:
        return ONCE
    level = descriptor.GetOptions().idempotency_level
    if level == descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS:
        return READ
    if level == descriptor_pb2.MethodOptions.IDEMPOTENT:
        fields = descriptor.input_type.fields_by_name
        return CREATING if "request_id" in fields else IDEMPOTENT
    return ONCE


def has_request_id(request):
    return "request_id" in request.DESCRIPTOR.fields_by_name


def is_retryable(method, request=None):
    """Whether a call of `method` may be repeated after an ambiguous failure:
    its idempotency_level is not IDEMPOTENCY_UNKNOWN."""
    return kind_of(method) != ONCE


def new_request_id():
    return uuid.uuid4().hex


def with_request_id(request):
    """The request itself, or a copy with a fresh request_id when it carries
    an empty one (the caller's object is never changed)."""
    if has_request_id(request) and not request.request_id:
        copy = type(request)()
        copy.CopyFrom(request)
        copy.request_id = new_request_id()
        return copy
    return request


class Attempts:
    """The retry schedule of one call: its deadline and when to try again.
    Shared by the blocking and the asyncio interceptors."""

    def __init__(self, policy, timeout, retryable, clock, rng):
        self._policy = policy
        self._retryable = retryable
        self._clock = clock
        self._rng = rng
        self.deadline = None if timeout is None else clock() + timeout
        self.attempt = 0

    def remaining(self):
        """The timeout of the next attempt (None: no deadline)."""
        self.attempt += 1
        if self.deadline is None:
            return None
        return max(self.deadline - self._clock(), 0.001)

    def delay(self, code):
        """Seconds to wait before the next attempt after `code`, or None when
        the call's outcome is final."""
        if (code == grpc.StatusCode.OK or not self._retryable
                or code not in self._policy.codes
                or self.attempt >= self._policy.max_attempts):
            return None
        delay = self._policy.backoff(self.attempt, self._rng)
        if self.deadline is not None and self._clock() + delay >= self.deadline:
            return None
        return delay


def call_details(details, timeout, metadata):
    return _CallDetails(details.method, timeout, metadata, details.credentials,
                        details.wait_for_ready, details.compression)


class DefaultsInterceptor(grpc.UnaryUnaryClientInterceptor,
                          grpc.UnaryStreamClientInterceptor):
    """Adds the default deadline, the token and the retry loop to each call.

    Meant for blocking stub calls (stub.Method(request) or .with_call); a
    .future() call works too but performs its retries before returning.
    Server streams (watches) get the token only: no default deadline, since
    they are meant to stay open, and no retry here (see metad_client.watch).
    """

    def __init__(self, timeout=30.0, retry=RetryPolicy(), metadata=(),
                 sleep=time.sleep, clock=time.monotonic, rng=random):
        self._timeout = timeout
        self._retry = retry or NO_RETRY
        self._metadata = tuple(metadata)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng

    def intercept_unary_unary(self, continuation, client_call_details, request):
        timeout = client_call_details.timeout
        if timeout is None:
            timeout = self._timeout
        metadata = tuple(client_call_details.metadata or ()) + self._metadata
        request = with_request_id(request)
        attempts = Attempts(self._retry, timeout,
                            is_retryable(client_call_details.method, request),
                            self._clock, self._rng)
        while True:
            details = call_details(client_call_details, attempts.remaining(), metadata)
            outcome = continuation(details, request)
            delay = attempts.delay(outcome.code())
            if delay is None:
                return outcome
            self._sleep(delay)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        metadata = tuple(client_call_details.metadata or ()) + self._metadata
        return continuation(call_details(
            client_call_details, client_call_details.timeout, metadata), request)
