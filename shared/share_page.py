"""The public page of a share link: the player, the prompt, and the tags that make a pasted link
unfurl with its video (Open Graph, ogp.me "video" and "Structured Properties"; X/Twitter's player card,
developer.x.com "Player Card": twitter:player must be an HTTPS page that can be framed, here the share
page itself). No script: a plain <video controls> plays it. Every value is HTML-escaped."""

from __future__ import annotations

from html import escape

TITLE_CHARS = 70  # what unfurls show of a title
SIZES = {("480p", "16:9"): (832, 480), ("480p", "9:16"): (480, 832),
         ("720p", "16:9"): (1280, 720), ("720p", "9:16"): (720, 1280)}


def size_of(resolution: str, aspect_ratio: str | None) -> tuple[int, int]:
    return SIZES.get((resolution, aspect_ratio or "16:9"), SIZES.get((resolution, "16:9"), (832, 480)))


def title_of(prompt: str) -> str:
    prompt = " ".join(prompt.split())
    return prompt if len(prompt) <= TITLE_CHARS else prompt[:TITLE_CHARS - 1].rstrip() + "…"


def render(share: dict, page_url: str) -> str:
    width, height = size_of(share["resolution"], share.get("aspect_ratio"))
    title = title_of(share["prompt"])
    video = share["video_url"]
    meta = {
        "og:type": "video.other", "og:title": title, "og:description": share["prompt"][:300],
        "og:url": page_url, "og:site_name": "Wan Video",
        "og:video": video, "og:video:url": video, "og:video:type": "video/mp4",
        "og:video:width": str(width), "og:video:height": str(height),
        "twitter:card": "player", "twitter:title": title, "twitter:description": share["prompt"][:200],
        "twitter:player": page_url, "twitter:player:width": str(width), "twitter:player:height": str(height),
        "twitter:player:stream": video, "twitter:player:stream:content_type": "video/mp4",
    }
    if video.startswith("https://"):
        meta["og:video:secure_url"] = video
    tags = "\n".join(
        f'  <meta {"property" if name.startswith("og:") else "name"}="{escape(name)}" content="{escape(value)}">'
        for name, value in meta.items())
    model = escape(f"{share['model']} · {share['resolution']}")
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex">
  <title>{escape(title)} · Wan Video</title>
{tags}
  <style>
    body {{ margin: 0; font: 16px/1.5 system-ui, sans-serif; background: #111; color: #eee; }}
    main {{ max-width: 960px; margin: 0 auto; padding: 24px; }}
    video {{ width: 100%; max-height: 80vh; background: #000; border-radius: 8px; }}
    p.prompt {{ font-size: 1.1em; }}
    .muted {{ color: #999; font-size: .9em; }}
  </style>
</head>
<body>
  <main>
    <video id="player" controls playsinline preload="metadata" width="{width}" height="{height}" src="{escape(video)}">
      <a href="{escape(video)}">Download the video</a>
    </video>
    <p class="prompt">{escape(share["prompt"])}</p>
    <p class="muted">{model} · made with Wan Video · <span class="views">{int(share["views"])} views</span></p>
  </main>
</body>
</html>
"""
