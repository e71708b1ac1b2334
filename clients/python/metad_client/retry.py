"""Deadlines, retries and credentials for every unary call of a Client.

What is retried (the project's rule: retry only what is safe to retry):
  * reads (Get* and List* methods), and
  * creating calls that carry a request_id (StartRun, RegisterFile(s),
    RegisterTask, AddDependency): the daemon answers a repeated request_id
    with the result of the first call. The interceptor gives such a request a
    fresh request_id when it has none, and keeps it across attempts;
and only when the status is one of RetryPolicy.codes (UNAVAILABLE, ABORTED).
Everything else (Heartbeat, FinishRun, ClaimFiles, CompleteFile, ResetFile,
ReprocessFiles, DeleteTask, RemoveDependency) is tried once: repeating one
that did reach the database could claim files nobody processes or report an
error for a call that succeeded.

A call's timeout (the caller's, or Client's default) bounds the whole call,
all attempts and backoff sleeps included.
"""

import collections
import dataclasses
import random
import time
import uuid

import grpc

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


def _rpc_name(method):
    if isinstance(method, bytes):
        method = method.decode()
    return method.rsplit("/", 1)[-1]


def is_read(method):
    name = _rpc_name(method)
    return name.startswith("Get") or name.startswith("List")


def has_request_id(request):
    return "request_id" in request.DESCRIPTOR.fields_by_name


def new_request_id():
    return uuid.uuid4().hex


class DefaultsInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Adds the default deadline, the token and the retry loop to each call.

    Meant for blocking stub calls (stub.Method(request) or .with_call); a
    .future() call works too but performs its retries before returning.
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
        deadline = None if timeout is None else self._clock() + timeout
        metadata = tuple(client_call_details.metadata or ()) + self._metadata

        creating = has_request_id(request)
        if creating and not request.request_id:
            copy = type(request)()
            copy.CopyFrom(request)
            copy.request_id = new_request_id()
            request = copy
        retryable = is_read(client_call_details.method) or creating

        attempt = 0
        while True:
            attempt += 1
            remaining = None if deadline is None else max(deadline - self._clock(), 0.001)
            details = _CallDetails(client_call_details.method, remaining,
                                   metadata, client_call_details.credentials,
                                   client_call_details.wait_for_ready,
                                   client_call_details.compression)
            outcome = continuation(details, request)
            code = outcome.code()
            if (code == grpc.StatusCode.OK or not retryable
                    or code not in self._retry.codes
                    or attempt >= self._retry.max_attempts):
                return outcome
            delay = self._retry.backoff(attempt, self._rng)
            if deadline is not None and self._clock() + delay >= deadline:
                return outcome
            self._sleep(delay)
