"""Marshmallow schemas of the auth API: codes, signup, login, tokens, sessions and the user they return."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import Schema, fields, validate

from roughcut.domain.account_model import CodePurpose
from roughcut.domain.accounts import NICKNAME_MAX, AuthPolicy
from roughcut.wire.fields import Email, Text, Timestamp, Url

CODE_RE = r"^[0-9]{6}$"  # ASCII digits: Python's \d also takes other scripts' digits
_POLICY = AuthPolicy()
# The domain's password rule (accounts.check_password_rules), stated where the document can say it.
PASSWORD = validate.Length(_POLICY.password_min, _POLICY.password_max)


class UserSchema(Schema):
    id = fields.Int(required=True)
    email = fields.Email(required=True)
    nickname = fields.Str(required=True)
    login_method = fields.Str(required=True)
    avatar_url = fields.Str(allow_none=True)
    created_at = Timestamp(required=True)


class CookieSessionSchema(Schema):
    """Cookie mode's answer: the tokens are in httpOnly cookies, not in the body."""

    token_type = fields.Str(required=True, dump_default="Bearer")
    expires_in = fields.Int(required=True)
    user = fields.Nested(UserSchema, required=True)


class TokenPairSchema(CookieSessionSchema):
    """Bearer mode's answer: the token pair in the body."""

    access_token = fields.Str(required=True)
    refresh_token = fields.Str(required=True)


# What a route that signs in answers: the pair, or in cookie mode (`?cookie=1`, AUTH_COOKIE_MODE) the session.
SIGNED_IN = (TokenPairSchema, CookieSessionSchema)


class EmailCodeRequest(Schema):
    email = Email(required=True)
    purpose = fields.Enum(CodePurpose, by_value=True, required=True)


class EmailCodeSent(Schema):
    expires_in = fields.Int(required=True)


class VerifyCodeRequest(EmailCodeRequest):
    code = Text(required=True, validate=validate.Regexp(CODE_RE, error="Six digits."))


class VerificationTokenSchema(Schema):
    verification_token = fields.Str(required=True)


class SignupRequest(Schema):
    email = Email(required=True)
    password = fields.Str(required=True, load_only=True, validate=PASSWORD)
    nickname = Text(required=True, nonblank=True, validate=validate.Length(1, NICKNAME_MAX))
    verification_token = fields.Str(required=True, validate=validate.Length(1, 200))


class LoginRequest(Schema):
    email = Email(required=True)
    password = fields.Str(required=True, validate=validate.Length(1, 1024), load_only=True)


class RefreshRequest(Schema):
    refresh_token = fields.Str(validate=validate.Length(1, 200), metadata={"description": "Or the cookie."})


class PasswordResetRequest(Schema):
    email = Email(required=True)
    verification_token = fields.Str(required=True, validate=validate.Length(1, 200))
    new_password = fields.Str(required=True, load_only=True, validate=PASSWORD)


class SocialLoginRequest(Schema):
    code = fields.Str(validate=validate.Length(1, 2048))
    redirect_uri = Url(validate=validate.Length(1, 2048))
    state = fields.Str(validate=validate.Length(1, 512))
    code_verifier = fields.Str(validate=validate.Length(43, 128))
    id_token = fields.Str(validate=validate.Length(1, 8192))

    # What accounts.social_login needs: an authorization code with its redirect_uri, or (Google) an id_token.
    json_schema_extra: ClassVar[dict[str, Any]] = {
        "anyOf": [{"required": ["code", "redirect_uri"]}, {"required": ["id_token"]}]
    }


class CookieModeQuery(Schema):
    cookie = fields.Bool(metadata={"description": "1 to receive the tokens as httpOnly cookies."})


class SessionSchema(Schema):
    id = fields.Int(required=True)
    device = fields.Str(required=True, attribute="user_agent")
    ip = fields.Str(required=True)
    created_at = Timestamp(required=True)
    last_used_at = Timestamp(required=True)
    current = fields.Bool(required=True)


class SessionList(Schema):
    items = fields.List(fields.Nested(SessionSchema), required=True)
    next_cursor = fields.Str(allow_none=True, required=True)
