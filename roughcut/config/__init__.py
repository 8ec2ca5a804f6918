"""Settings parsed once from the environment."""

from roughcut.config.settings import ConfigError, RateLimit, Secret, Settings, SocialProvider, WebhookTarget

__all__ = ["ConfigError", "RateLimit", "Secret", "Settings", "SocialProvider", "WebhookTarget"]
