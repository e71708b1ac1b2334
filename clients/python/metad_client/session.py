"""Read-your-writes when metad serves reads from a standby (--read_database).

A write's OK answer carries a commit position in the trailer
``metad-commit-lsn``; a read that sends it back in the header
``metad-min-lsn`` is served by a standby only once the standby has replayed
that far, else by the primary. ReadYourWrites is the client interceptor that
does both for every call of a channel: it remembers the highest position
seen and sends it. connect() installs it by default (read_your_writes=True);
Client.commit_position gives the position to pass to another client
(set_commit_position) that must see this one's changes. Without a read pool
metad sends no trailer, so nothing is sent either.
"""

import threading

import grpc

from metad_client.retry import call_details

COMMIT_POSITION_TRAILER = "metad-commit-lsn"
MIN_POSITION_HEADER = "metad-min-lsn"


class ReadYourWrites(grpc.UnaryUnaryClientInterceptor):
    """Sends the highest commit position seen with each unary call, and
    takes the position an OK answer carries. Thread-safe."""

    def __init__(self, position=0):
        self._lock = threading.Lock()
        self._position = int(position)

    @property
    def position(self):
        with self._lock:
            return self._position

    def see(self, position):
        """Raises the position to `position` (never lowers it)."""
        with self._lock:
            self._position = max(self._position, int(position))

    def _take(self, call):
        try:
            if call.code() != grpc.StatusCode.OK:
                return
            for key, value in call.trailing_metadata() or ():
                if key == COMMIT_POSITION_TRAILER:
                    self.see(int(value))
        except (ValueError, grpc.RpcError):
            pass  # no usable position: the next reads send the older one

    def intercept_unary_unary(self, continuation, client_call_details, request):
        position = self.position
        if position > 0:
            metadata = tuple(client_call_details.metadata or ()) + (
                (MIN_POSITION_HEADER, str(position)),)
            client_call_details = call_details(
                client_call_details, client_call_details.timeout, metadata)
        outcome = continuation(client_call_details, request)
        outcome.add_done_callback(self._take)
        return outcome

