// Generated from docs/openapi.json by scripts/regenerate: do not edit.
// Each path of the API: the Modal web function serving it, and its path below that function's URL.
export const API_VERSION = "1";
export const ROUTES: Record<string, readonly [string, string]> = {
  "/text-to-video": [
    "text_to_video",
    "/"
  ],
  "/image-to-video": [
    "image_to_video",
    "/"
  ],
  "/status": [
    "generation_status",
    "/"
  ],
  "/status/stream": [
    "generation_status",
    "/stream"
  ],
  "/webhooks/replicate": [
    "replicate_webhook",
    "/"
  ],
  "/credits": [
    "account",
    "/credits"
  ],
  "/generations": [
    "account",
    "/generations"
  ],
  "/cancel": [
    "account",
    "/cancel"
  ],
  "/retry": [
    "account",
    "/retry"
  ],
  "/pricing": [
    "account",
    "/pricing"
  ],
  "/checkout": [
    "account",
    "/checkout"
  ],
  "/checkout/status": [
    "account",
    "/checkout/status"
  ],
  "/health": [
    "account",
    "/health"
  ],
  "/generations/delete": [
    "account",
    "/generations/delete"
  ],
  "/generations/{generation_id}": [
    "account",
    "/generations/{generation_id}"
  ],
  "/metrics": [
    "account",
    "/metrics"
  ],
  "/api-keys": [
    "account",
    "/api-keys"
  ],
  "/api-keys/{key_id}": [
    "account",
    "/api-keys/{key_id}"
  ],
  "/webhooks/secret": [
    "account",
    "/webhooks/secret"
  ],
  "/webhooks/secret/rotate": [
    "account",
    "/webhooks/secret/rotate"
  ],
  "/generations/{generation_id}/deliveries": [
    "account",
    "/generations/{generation_id}/deliveries"
  ],
  "/generations/{generation_id}/deliveries/{event_id}/retry": [
    "account",
    "/generations/{generation_id}/deliveries/{event_id}/retry"
  ],
  "/admin/stats": [
    "account",
    "/admin/stats"
  ],
  "/admin/analytics": [
    "account",
    "/admin/analytics"
  ],
  "/admin/users": [
    "account",
    "/admin/users"
  ],
  "/admin/users/{user_id}": [
    "account",
    "/admin/users/{user_id}"
  ],
  "/admin/users/{user_id}/credits": [
    "account",
    "/admin/users/{user_id}/credits"
  ],
  "/admin/users/{user_id}/block": [
    "account",
    "/admin/users/{user_id}/block"
  ],
  "/admin/users/{user_id}/unblock": [
    "account",
    "/admin/users/{user_id}/unblock"
  ],
  "/admin/generations": [
    "account",
    "/admin/generations"
  ],
  "/admin/generations/{generation_id}/refund": [
    "account",
    "/admin/generations/{generation_id}/refund"
  ],
  "/admin/generations/{generation_id}/settle": [
    "account",
    "/admin/generations/{generation_id}/settle"
  ],
  "/admin/audit": [
    "account",
    "/admin/audit"
  ],
  "/admin/audit.csv": [
    "account",
    "/admin/audit.csv"
  ],
  "/generations/download": [
    "account",
    "/generations/download"
  ],
  "/generations/{generation_id}/favorite": [
    "account",
    "/generations/{generation_id}/favorite"
  ],
  "/generations/{generation_id}/share": [
    "account",
    "/generations/{generation_id}/share"
  ],
  "/s/{share_id}.json": [
    "account",
    "/s/{share_id}.json"
  ],
  "/s/{share_id}": [
    "account",
    "/s/{share_id}"
  ],
  "/generations/{generation_id}/extend": [
    "account",
    "/generations/{generation_id}/extend"
  ],
  "/webhooks/stripe": [
    "stripe_webhook",
    "/"
  ]
} as const;
