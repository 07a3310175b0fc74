"""DynamoDB for LocalStack, served by LocalStack's bundled moto backend.

LocalStack's own `dynamodb` provider forwards every call to DynamoDB Local, a vendor
jar from a CDN that the CJaaS test scripts do not use. This provider implements no
operation itself: `MotoFallbackDispatcher` sends every call (they all raise
NotImplementedError on the generated API class) to moto, inside LocalStack's gateway.

moto's DynamoDB backend is not thread-safe, and LocalStack's gateway serves requests
on many threads: concurrent TransactWriteItems calls fail with "dictionary changed
size during iteration". So calls run one at a time, as tests/moto_server.py does.
"""

import threading

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.plugins import Service, aws_provider


class MotoDynamoDBProvider(DynamodbApi):
    """Every operation falls through to moto's DynamoDB backend."""


def serialized_moto_dispatcher(provider):
    from localstack.services.moto import MotoFallbackDispatcher

    lock = threading.Lock()
    table = MotoFallbackDispatcher(provider)

    def one_at_a_time(handler):
        def call(context, request):
            with lock:
                return handler(context, request)

        return call

    return {operation: one_at_a_time(handler) for operation, handler in table.items()}


@aws_provider(api="dynamodb", name="moto")
def dynamodb():
    return Service.for_provider(
        MotoDynamoDBProvider(), dispatch_table_factory=serialized_moto_dispatcher
    )
