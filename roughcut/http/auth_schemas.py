"""Marshmallow schemas of the auth API: codes, signup, login, tokens, sessions and the user they return."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from roughcut.domain.account_model import CodePurpose
from roughcut.wire.fields import Email, Text, Timestamp

CODE_RE = r"^\d{6}$"


class UserSchema(Schema):
    id = fields.Int(required=True)
    email = fields.Email(required=True)
    nickname = fields.Str(required=True)
    login_method = fields.Str(required=True)
    avatar_url = fields.Str(allow_none=True)
    created_at = Timestamp(required=True)


class TokenPairSchema(Schema):
    access_token = fields.Str(metadata={"description": "Absent in cookie mode."})
    refresh_token = fields.Str(metadata={"description": "Absent in cookie mode."})
    token_type = fields.Str(required=True, dump_default="Bearer")
    expires_in = fields.Int(required=True)
    user = fields.Nested(UserSchema, required=True)


class EmailCodeRequest(Schema):
    email = Email(required=True)
    purpose = fields.Enum(CodePurpose, by_value=True, required=True)


class EmailCodeSent(Schema):
    expires_in = fields.Int(required=True)


class VerifyCodeRequest(EmailCodeRequest):
    code = fields.Str(required=True, validate=validate.Regexp(CODE_RE, error="Six digits."))


class VerificationTokenSchema(Schema):
    verification_token = fields.Str(required=True)


class SignupRequest(Schema):
    email = Email(required=True)
    password = fields.Str(required=True, load_only=True)
    nickname = Text(required=True)
    verification_token = fields.Str(required=True, validate=validate.Length(1, 200))


class LoginRequest(Schema):
    email = Email(required=True)
    password = fields.Str(required=True, validate=validate.Length(1, 1024), load_only=True)


class RefreshRequest(Schema):
    refresh_token = fields.Str(validate=validate.Length(1, 200), metadata={"description": "Or the cookie."})


class PasswordResetRequest(Schema):
    email = Email(required=True)
    verification_token = fields.Str(required=True, validate=validate.Length(1, 200))
    new_password = fields.Str(required=True, load_only=True)


class SocialLoginRequest(Schema):
    code = fields.Str(validate=validate.Length(1, 2048))
    redirect_uri = fields.Url(require_tld=False, validate=validate.Length(1, 2048))
    state = fields.Str(validate=validate.Length(1, 512))
    code_verifier = fields.Str(validate=validate.Length(43, 128))
    id_token = fields.Str(validate=validate.Length(1, 8192))


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
