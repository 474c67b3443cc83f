"""The Wan Video API's Python client.

    from wan_video import Client
    with Client("http://127.0.0.1:8000", api_key="wan_live_...") as wan:
        accepted = wan.text_to_video("a red fox running through fresh snow", model="t2v-14B", resolution="480p")
        video = wan.wait(accepted.generation_id)

Typed results are the models in `wan_video.models`, generated from the API's OpenAPI document.
"""

from wan_video import models
from wan_video._client import AsyncClient, Client
from wan_video._errors import ApiError, WebhookVerificationError
from wan_video._routes import API_VERSION
from wan_video._webhooks import verify_webhook

__all__ = ["API_VERSION", "ApiError", "AsyncClient", "Client", "WebhookVerificationError", "models",
           "verify_webhook"]
