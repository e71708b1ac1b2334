"""The structured details metad sends with an error.

metad puts a ``google.rpc.Status`` in the ``grpc-status-details-bin``
trailing metadata of a failed call (Debian's python3-grpcio has no
``grpc_status`` module, so it is decoded here: with googleapis-common-protos'
``google.rpc`` when installed, else with the copy generated into
``metad._google_rpc``)::

    try:
        client.task_log.StartRun(task_log_pb2.StartRunRequest(...))
    except grpc.RpcError as e:
        details = metad_client.error_details(e)
        if details and details.reason == "PARENTS_NOT_SUCCEEDED":
            waiting_for = [v.subject for v in details.violations]

Reasons are stable (domain "metad.dev"); docs/errors.md lists them and what
comes with each.
"""

STATUS_DETAILS_KEY = "grpc-status-details-bin"


def _rpc_modules():
    """(status_pb2, error_details_pb2). An installed google.rpc wins, so the
    two copies never meet in protobuf's descriptor pool."""
    try:
        from google.rpc import error_details_pb2, status_pb2
    except ImportError:
        from metad._google_rpc import error_details_pb2, status_pb2
    return status_pb2, error_details_pb2


class ErrorDetails:
    """The decoded google.rpc.Status of a failed call.

    Attributes: code (int), message (str), details (every unpacked detail
    message), error_info (google.rpc.ErrorInfo or None), violations (the
    PreconditionFailure violations), field_violations (the BadRequest ones),
    resource_info (google.rpc.ResourceInfo or None).
    """

    def __init__(self, status):
        _, error_details_pb2 = _rpc_modules()
        self.status = status
        self.code = status.code
        self.message = status.message
        self.details = []
        self.error_info = None
        self.violations = []
        self.field_violations = []
        self.resource_info = None
        kinds = [error_details_pb2.ErrorInfo, error_details_pb2.PreconditionFailure,
                 error_details_pb2.BadRequest, error_details_pb2.ResourceInfo]
        for any_detail in status.details:
            for kind in kinds:
                if any_detail.Is(kind.DESCRIPTOR):
                    message = kind()
                    any_detail.Unpack(message)
                    self.details.append(message)
                    break
            else:
                self.details.append(any_detail)  # a type this client skips
                continue
            if isinstance(message, error_details_pb2.ErrorInfo):
                self.error_info = message
            elif isinstance(message, error_details_pb2.PreconditionFailure):
                self.violations.extend(message.violations)
            elif isinstance(message, error_details_pb2.BadRequest):
                self.field_violations.extend(message.field_violations)
            else:
                self.resource_info = message

    @property
    def reason(self):
        """ErrorInfo.reason, e.g. "DEPENDENCY_CYCLE"; "" without one."""
        return self.error_info.reason if self.error_info else ""

    @property
    def metadata(self):
        """ErrorInfo.metadata as a dict; {} without one."""
        return dict(self.error_info.metadata) if self.error_info else {}


def error_details(rpc_error):
    """The ErrorDetails of a grpc.RpcError, or None when it carries none."""
    trailers = rpc_error.trailing_metadata() if hasattr(
        rpc_error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == STATUS_DETAILS_KEY:
            status_pb2, _ = _rpc_modules()
            status = status_pb2.Status()
            status.ParseFromString(value)
            return ErrorDetails(status)
    return None
