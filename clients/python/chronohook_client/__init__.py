"""chronohook's Python client: ``Client`` / ``AsyncClient`` over the whole API, and ``verify_webhook`` for receivers.

from chronohook_client import Client
with Client("http://127.0.0.1:8000", token) as client:
    job = client.jobs.create(queue="emails", url="https://example.com/send")
"""

from chronohook_client._http import RetryPolicy
from chronohook_client.client import AsyncClient, Client
from chronohook_client.errors import (
    APIError,
    AuthenticationError,
    ChronohookError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
    WebhookVerificationError,
)
from chronohook_client.paging import AsyncPaginator, Paginator
from chronohook_client.webhooks import verify_webhook

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AsyncClient",
    "AsyncPaginator",
    "AuthenticationError",
    "ChronohookError",
    "Client",
    "ConflictError",
    "NotFoundError",
    "Paginator",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "ValidationError",
    "WebhookVerificationError",
    "__version__",
    "verify_webhook",
]
