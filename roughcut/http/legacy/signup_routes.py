"""Old sign-up, e-mail code, password reset and social login endpoints, on the /api/v1 account use cases.

The old password reset needed only an e-mail (LEGACY.md §4.7), and its signup no verified address: here a
verified code leaves a short-lived proof in an httpOnly cookie, and /users/signup and /users/password_reset
consume it (a call without it gets the old error body). The code answers never tell whether an account exists.
"""

from __future__ import annotations

import re

from aiohttp import web
from marshmallow import EXCLUDE, Schema, fields, validate

from roughcut import keys
from roughcut.domain import accounts, errors
from roughcut.domain.account_model import CodePurpose, TokenPair
from roughcut.http.auth_schemas import CODE_RE
from roughcut.http.jsonutil import json_response
from roughcut.http.legacy.envelope import BAD_REQUEST, UNKNOWN, Answers, Handler, legacy, old_error
from roughcut.http.legacy.session import origin_allowed, set_session_cookies
from roughcut.http.routing import read_body
from roughcut.http.security import device, limit
from roughcut.wire.fields import Email, Text, Url

SUCCESS = {"message": "success"}
TAKEN = "이미 가입되어 있는 사용자입니다."
NEED_PROOF = "이메일 인증이 필요합니다."
TOO_MANY = "요청이 너무 많습니다. 잠시 후 다시 시도해주세요."
# The old `types`: "reset" is the password reset; anything else (the app sends "signup") is sign-up.
RESET = "reset"
PROOF_COOKIES = {CodePurpose.SIGNUP: "vridge_signup_proof", CodePurpose.PASSWORD_RESET: "vridge_reset_proof"}
WRONG_CODE: dict[CodePurpose, Answers] = {
    CodePurpose.SIGNUP: {errors.CodeInvalid: (404, "인증번호가 일치하지 않습니다")},
    CodePurpose.PASSWORD_RESET: {errors.CodeInvalid: (500, "인증번호가 틀렸습니다.")},
}
NO_EMAIL = {
    "kakao": "카카오 이메일이 없습니다.",
    "naver": "네이버 이메일이 없습니다.",
    "google": "구글 이메일이 없습니다.",
}
NAVER_CALLBACK = "/login"  # the old app's Naver redirect page (REACT_APP_NAVER_REDIRECT_URI)


class EmailBody(Schema):
    email = Email(required=True)


class CodeBody(EmailBody):
    auth_number = fields.Raw(required=True)  # typed into a text box; a number is taken as its digits


class SignupBody(EmailBody):
    nickname = Text(required=True)
    password = fields.Str(required=True, load_only=True, validate=validate.Length(1, 1024))


class ResetBody(EmailBody):
    password = fields.Str(required=True, load_only=True, validate=validate.Length(1, 1024))


class SocialBody(Schema):
    """What the old app posts: Naver `{code, state}`; Kakao and Google a provider access token, which no
    check here can tie to this app (the old audience hole), so only a code or a Google id_token signs in."""

    class Meta:
        unknown = EXCLUDE

    code = fields.Str(validate=validate.Length(1, 2048))
    state = fields.Str(validate=validate.Length(1, 512))
    redirect_uri = Url(validate=validate.Length(1, 2048))
    id_token = fields.Str(validate=validate.Length(1, 8192))


def _purpose(request: web.Request) -> CodePurpose:
    return CodePurpose.PASSWORD_RESET if request.match_info["types"] == RESET else CodePurpose.SIGNUP


def signed_in(request: web.Request, pair: TokenPair, status: int) -> web.Response:
    """The old login answer `{message, vridge_session, user}` with the session cookies."""
    body = {"message": "success", "vridge_session": pair.access_token, "user": pair.user.email}
    response = json_response(body, status)
    set_session_cookies(request, response, pair)
    return response


def _proof(request: web.Request, purpose: CodePurpose) -> str:
    """The proof cookie a verified code left; carried by a cookie, so only from an allowed Origin."""
    token = request.cookies.get(PROOF_COOKIES[purpose])
    if not token:
        raise errors.VerificationTokenInvalid()
    if not origin_allowed(request):
        raise errors.CsrfFailed()
    return token


@legacy("users/send_authnumber", "/api/v1/auth/email-codes", {errors.RateLimited: (429, TOO_MANY)})
async def send_authnumber(request: web.Request) -> web.Response:
    """200 success whether or not the address has an account (the old 500s told)."""
    data = await read_body(request, EmailBody)
    await limit(request, "email_code", request.config_dict[keys.SETTINGS].rate_email_code)
    await accounts.send_email_code(request.config_dict[keys.ACCOUNTS], data["email"], _purpose(request))
    return json_response(SUCCESS)


@legacy("users/signup_emailauth", "/api/v1/auth/email-codes/verify", {errors.RateLimited: (429, TOO_MANY)})
async def signup_emailauth(request: web.Request) -> web.Response:
    """200 success and the proof cookie for the next step; a wrong or expired code gets the old message."""
    data = await read_body(request, CodeBody)
    purpose = _purpose(request)
    acc = request.config_dict[keys.ACCOUNTS]
    code = str(data["auth_number"])
    try:
        if not re.fullmatch(CODE_RE, code):
            raise errors.CodeInvalid()
        await limit(request, "verify", request.config_dict[keys.SETTINGS].rate_verify, data["email"])
        token = await accounts.verify_email_code(acc, data["email"], purpose, code)
    except errors.CodeInvalid as exc:
        return old_error(exc, WRONG_CODE[purpose])
    response = json_response(SUCCESS)
    ttl = acc.policy.verification_ttl
    response.set_cookie(
        PROOF_COOKIES[purpose], token, path="/", secure=True, samesite="None", httponly=True, max_age=ttl
    )
    return response


@legacy(
    "users/signup",
    "/api/v1/auth/signup",
    {errors.VerificationTokenInvalid: (403, NEED_PROOF), errors.Conflict: (500, TAKEN)},
)
async def signup(request: web.Request) -> web.Response:
    """201 the login answer, only with the sign-up proof of this address."""
    data = await read_body(request, SignupBody)
    await limit(request, "signup", request.config_dict[keys.SETTINGS].rate_signup)
    token = _proof(request, CodePurpose.SIGNUP)
    pair = await accounts.signup(
        request.config_dict[keys.ACCOUNTS], data["email"], data["password"], data["nickname"], token, device(request)
    )
    response = signed_in(request, pair, 201)
    response.del_cookie(PROOF_COOKIES[CodePurpose.SIGNUP], path="/")
    return response


@legacy("users/password_reset", "/api/v1/auth/password-reset", {errors.VerificationTokenInvalid: (403, NEED_PROOF)})
async def password_reset(request: web.Request) -> web.Response:
    """200 success, only with the reset proof of this address; every session of the account ends."""
    data = await read_body(request, ResetBody)
    token = _proof(request, CodePurpose.PASSWORD_RESET)
    await accounts.reset_password(request.config_dict[keys.ACCOUNTS], data["email"], token, data["password"])
    response = json_response(SUCCESS)
    response.del_cookie(PROOF_COOKIES[CodePurpose.PASSWORD_RESET], path="/")
    return response


def _redirect_uri(request: web.Request) -> str:
    """Where the old app's provider sent the code back: its own /login page."""
    origin = request.headers["Origin"] if origin_allowed(request) else request.config_dict[keys.SETTINGS].public_url
    return origin.rstrip("/") + NAVER_CALLBACK


def social_login(provider: str) -> Handler:
    """POST /users/login/<provider>: 201 the login answer, through the /api/v1 social login."""
    answers: Answers = {
        errors.SocialEmailUnverified: (500, NO_EMAIL[provider]),
        errors.SocialLoginFailed: (400, BAD_REQUEST),
        errors.NotFound: (404, UNKNOWN),
        errors.RateLimited: (429, TOO_MANY),
    }

    @legacy(f"users/login/{provider}", f"/api/v1/auth/social/{provider}", answers)
    async def login(request: web.Request) -> web.Response:
        data = await read_body(request, SocialBody)
        await limit(request, "login", request.config_dict[keys.SETTINGS].rate_login, "social")
        if "code" in data:
            data.setdefault("redirect_uri", _redirect_uri(request))
        pair, _ = await accounts.social_login(request.config_dict[keys.ACCOUNTS], provider, device(request), **data)
        return signed_in(request, pair, 201)

    return login
