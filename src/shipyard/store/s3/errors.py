"""What a boto3/botocore failure means to a Shipyard user: a ``StoreError`` that names the
bucket and endpoint (never a credential) and says what to check."""

from __future__ import annotations

import re

from shipyard.errors import IntegrityError, ShipyardError, StoreError

_USERINFO = re.compile(r"//[^/@\s]*@")

_DENIED = frozenset(
    {
        "403",
        "Forbidden",
        "AccessDenied",
        "AllAccessDisabled",
        "AccountProblem",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
    }
)
_WRONG_REGION = frozenset(
    {
        "301",
        "PermanentRedirect",
        "AuthorizationHeaderMalformed",
        "IllegalLocationConstraintException",
    }
)
_CORRUPTED = frozenset({"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"})
_CREDENTIALS = frozenset(
    {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}
)
_CREDENTIALS_HINT = (
    "check the credentials boto3 finds (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "AWS_PROFILE or ~/.aws) and that they may read and write the bucket"
)


def redact(text: str) -> str:
    """``text`` without the ``user:password@`` part of any URL in it."""
    return _USERINFO.sub("//", text)


def error_code(err: BaseException) -> str | None:
    """The S3 error code of a botocore ``ClientError`` (``NoSuchKey``, ``403``…), else None."""
    code = _error_field(err, "Code")
    return code or None


def _error_field(err: BaseException, field: str) -> str:
    response = getattr(err, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    return str(error.get(field, "")) if isinstance(error, dict) else ""


def translate(err: BaseException, *, action: str, bucket: str, endpoint: str) -> ShipyardError:
    """The error to raise for ``err``, raised while doing ``action`` on ``bucket``."""
    where = f"bucket {bucket!r} at {endpoint}"
    cause = _root_cause(err)
    code = error_code(cause)
    if code is not None:
        message = redact(_error_field(cause, "Message"))
        return _client_error(code, message, action=action, where=where)
    name = type(cause).__name__
    if name in _CREDENTIALS:
        return StoreError(f"no usable S3 credentials for {where}", hint=_CREDENTIALS_HINT)
    if _is_connection_error(cause):
        return StoreError(
            f"cannot reach the S3 endpoint for {where} ({name})",
            hint="check that the service is running and AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3) "
            "points at it; for a self-hosted service whose host name cannot take the bucket as a "
            "subdomain, set addressing_style = path in the s3 section of the AWS config file",
        )
    return StoreError(f"S3 {action} failed for {where}: {name}: {redact(str(cause))}")


def _client_error(code: str, message: str, *, action: str, where: str) -> ShipyardError:
    detail = f"{code}: {message}" if message else code
    if code == "NoSuchBucket":
        return _missing(where)
    if code in _DENIED:
        return StoreError(
            f"S3 refused access to {where} ({detail})",
            hint=_CREDENTIALS_HINT
            + " (a missing object looks like a refusal without s3:ListBucket)",
        )
    if code in _WRONG_REGION:
        return StoreError(
            f"{where} is in another region ({detail})",
            hint="set AWS_REGION (or AWS_DEFAULT_REGION) to the bucket's region",
        )
    if code in _CORRUPTED:
        return IntegrityError(
            f"S3 refused the bytes of an upload to {where} as corrupted in transit ({detail})",
            hint="try again",
        )
    return StoreError(f"S3 {action} failed for {where} ({detail})")


def no_such_bucket(bucket: str, endpoint: str) -> StoreError:
    """The error for a bucket that does not exist."""
    return _missing(f"bucket {bucket!r} at {endpoint}")


def _missing(where: str) -> StoreError:
    return StoreError(
        f"{where} does not exist",
        hint="create the bucket, or fix the artifact store URL (s3://bucket/prefix) "
        "and the endpoint (AWS_ENDPOINT_URL)",
    )


def _root_cause(err: BaseException) -> BaseException:
    """The botocore error behind boto3's transfer wrappers (``S3UploadFailedError`` wraps
    the ``ClientError`` only as its context)."""
    seen = err
    while error_code(seen) is None and type(seen).__module__.startswith("boto3"):
        inner = seen.__cause__ or seen.__context__
        if inner is None:
            break
        seen = inner
    return seen


def _is_connection_error(err: BaseException) -> bool:
    from botocore.exceptions import ConnectionError, HTTPClientError

    return isinstance(err, ConnectionError | HTTPClientError)
