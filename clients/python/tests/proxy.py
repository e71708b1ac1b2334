"""A gRPC proxy in front of metad that can lose answers, for retry tests.

Forwards every unary call as raw bytes. When told to, it lets a call reach
the daemon and then answers the client UNAVAILABLE instead of the daemon's
response: exactly the ambiguous failure a network drop causes.
"""

import threading
from concurrent import futures

import grpc


class FlakyProxy(grpc.GenericRpcHandler):
    def __init__(self, target):
        self._channel = grpc.insecure_channel(target)
        self._lock = threading.Lock()
        self.drop = {}       # rpc name -> answers still to lose
        self.forwarded = {}  # rpc name -> request bytes that reached metad
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers((self,))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"
        self._server.start()

    def close(self):
        self._server.stop(None)
        self._channel.close()

    def service(self, handler_call_details):
        method = handler_call_details.method
        name = method.rsplit("/", 1)[-1]
        upstream = self._channel.unary_unary(method)

        def handle(request, context):
            try:
                response = upstream(request, timeout=context.time_remaining(),
                                    metadata=context.invocation_metadata())
            except grpc.RpcError as e:
                context.abort(e.code(), e.details())
            with self._lock:
                self.forwarded.setdefault(name, []).append(request)
                lose = self.drop.get(name, 0) > 0
                if lose:
                    self.drop[name] -= 1
            if lose:
                context.abort(grpc.StatusCode.UNAVAILABLE, "proxy lost the answer")
            return response

        return grpc.unary_unary_rpc_method_handler(handle)
