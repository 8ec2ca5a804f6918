"""Marshmallow schemas of the accounts API: they validate input, shape output and feed OpenAPI."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from roughcut.domain.model import CodePurpose
from roughcut.http.fields import Timestamp

CODE_RE = r"^\d{6}$"


class ProblemSchema(Schema):
    type = fields.Str(required=True)
    title = fields.Str(required=True)
    status = fields.Int(required=True)
    detail = fields.Str(required=True)
    code = fields.Str(required=True, metadata={"description": "Stable machine-readable error code."})
    request_id = fields.Str(required=True)
    errors = fields.Dict(keys=fields.Str(), values=fields.List(fields.Str()))
    details = fields.Dict()


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
    email = fields.Str(required=True, validate=validate.Length(1, 254))
    purpose = fields.Enum(CodePurpose, by_value=True, required=True)


class EmailCodeSent(Schema):
    expires_in = fields.Int(required=True)


class VerifyCodeRequest(EmailCodeRequest):
    code = fields.Str(required=True, validate=validate.Regexp(CODE_RE, error="Six digits."))


class VerificationTokenSchema(Schema):
    verification_token = fields.Str(required=True)


class SignupRequest(Schema):
    email = fields.Str(required=True, validate=validate.Length(1, 254))
    password = fields.Str(required=True, load_only=True)
    nickname = fields.Str(required=True)
    verification_token = fields.Str(required=True, validate=validate.Length(1, 200))


class LoginRequest(Schema):
    email = fields.Str(required=True, validate=validate.Length(1, 254))
    password = fields.Str(required=True, validate=validate.Length(1, 1024), load_only=True)


class RefreshRequest(Schema):
    refresh_token = fields.Str(validate=validate.Length(1, 200), metadata={"description": "Or the cookie."})


class PasswordResetRequest(Schema):
    email = fields.Str(required=True, validate=validate.Length(1, 254))
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


class MeUpdate(Schema):
    nickname = fields.Str(validate=validate.Length(1, 50))
    avatar_url = fields.Url(allow_none=True, validate=validate.Length(max=1024))
    current_password = fields.Str(load_only=True)
    new_password = fields.Str(load_only=True)


class MeDelete(Schema):
    password = fields.Str(load_only=True, metadata={"description": "Or log in again within 10 minutes."})


class MemoSchema(Schema):
    id = fields.Int(required=True)
    date = fields.Date(required=True)
    memo = fields.Str(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class MemoCreate(Schema):
    date = fields.Date(required=True)
    memo = fields.Str(required=True, validate=validate.Length(1, 2000))


class MemoUpdate(Schema):
    date = fields.Date()
    memo = fields.Str(validate=validate.Length(1, 2000))


class PageQuery(Schema):
    limit = fields.Int(load_default=20, validate=validate.Range(1, 100))
    cursor = fields.Str(validate=validate.Length(1, 200))


class MemoQuery(PageQuery):
    from_ = fields.Date(data_key="from")
    to = fields.Date()


class MemoPage(Schema):
    items = fields.List(fields.Nested(MemoSchema), required=True)
    next_cursor = fields.Str(allow_none=True, required=True)


class JwksSchema(Schema):
    keys = fields.List(fields.Dict(), required=True)


class HealthSchema(Schema):
    status = fields.Str(required=True)
    checks = fields.Dict(keys=fields.Str(), values=fields.Str())
