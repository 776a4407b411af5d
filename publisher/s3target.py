"""An S3 (or S3-compatible) bucket as a target, through boto3.

Credentials come only from boto3's usual chain (environment, shared files, instance roles);
chartseal never stores them. An explicit endpoint wins over the clinic config, which wins
over boto3's own AWS_ENDPOINT_URL handling.
"""
from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from typing import Any, Iterator

from .errors import TargetError
from .policy import Policy
from .targets import Listed, check_name, is_md5

CREDENTIAL_CODES = {
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken",
    "InvalidToken", "TokenRefreshRequired", "InvalidClientTokenId", "403", "Forbidden",
}
BUCKET_CODES = {"NoSuchBucket", "404", "NotFound"}
CHECK_ATTEMPTS = 4   # HeadBucket tries on top of the client's own retries
VERIFY_ATTEMPTS = 3  # uploads of one object whose stored checksum did not match
CONTINUE_FROM = 1024 * 1024  # bodies this large still wait for "100 Continue"
CRED_HINT = ("check the S3 credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE "
             "or ~/.aws/credentials) and that they may write this bucket; nothing queued was lost")


class S3Target:
    def __init__(self, bucket: str, prefix: str, endpoint_url: str, region: str,
                 policy: Policy) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.region = region
        self.policy = policy
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        # Keyed by bucket and prefix only: the same bucket reached through another URL (a
        # CDN-fronted endpoint, a region-specific host) is the same store and must not be
        # uploaded again. Older state databases keyed it "<url> at <endpoint>"; state.py
        # migrates those keys.
        self.state_key = self.url
        self._client: Any = None
        self._lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------
    @property
    def where(self) -> str:
        endpoint = (self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3")
                    or os.environ.get("AWS_ENDPOINT_URL") or "AWS")
        return f"{self.url} at {endpoint}"

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        import boto3
        from botocore.config import Config

        custom = bool(self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3")
                      or os.environ.get("AWS_ENDPOINT_URL"))
        config = Config(
            retries={"max_attempts": self.policy.s3_attempts, "mode": "standard"},
            max_pool_connections=self.policy.workers + 4,
            connect_timeout=self.policy.connect_timeout,
            read_timeout=self.policy.read_timeout,
            # S3-compatible stores behind an endpoint URL rarely have per-bucket host names.
            s3={"addressing_style": "path"} if custom else {},
            # We send Content-MD5 ourselves; trailing checksums cost CPU and some stores
            # reject them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session()
        client = session.client("s3", endpoint_url=self.endpoint_url or None,
                                region_name=self.region or None, config=config)
        # On "before-call.s3", after botocore's own handler there that adds the header.
        client.meta.events.register_last("before-call.s3", _no_continue_for_small)
        return client

    def key(self, name: str) -> str:
        check_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _name(self, key: str) -> str:
        return key[len(self.prefix) + 1:] if self.prefix else key

    def _error(self, exc: Exception, what: str) -> TargetError:
        return translate(exc, what, self.where)

    # -- interface -----------------------------------------------------------------------
    def check(self) -> None:
        """One HeadBucket before the first upload, retried like any request.

        The client already retries inside; a failure that is not fatal (a reset, a 5xx, a
        slow answer) gets a few more tries with backoff here, since one flaky request must
        not abort a whole run. Credentials and a missing bucket fail at once.
        """
        err: TargetError | None = None
        for attempt in range(CHECK_ATTEMPTS):
            if attempt:
                time.sleep(min(2.0, 0.2 * 2 ** attempt))
            try:
                self.client.head_bucket(Bucket=self.bucket)
                return
            except Exception as exc:  # noqa: BLE001 - every failure is translated below
                err = self._error(exc, f"open the bucket {self.bucket!r}")
                err.__cause__ = exc
                if err.fatal:
                    break
        assert err is not None
        raise err

    def put(self, name: str, data: bytes, content_type: str, cache_control: str) -> str:
        """Upload and verify; returns the MD5 we computed (what ``published.etag`` keeps).

        Content-MD5 lets a strict store refuse a body damaged on the way, but some
        S3-compatible stores ignore it, so the ETag the store reports (the MD5 of what it
        stored, for a single-part upload without KMS) is compared with ours as well, and the
        object is sent again on a mismatch.
        """
        md5 = hashlib.md5(data, usedforsecurity=False)
        local = md5.hexdigest()
        got = ""
        for _attempt in range(VERIFY_ATTEMPTS):
            try:
                resp = self.client.put_object(
                    Bucket=self.bucket, Key=self.key(name), Body=data, ContentType=content_type,
                    CacheControl=cache_control, ContentMD5=base64.b64encode(md5.digest()).decode())
            except Exception as exc:  # noqa: BLE001
                raise self._error(exc, f"upload {name}") from exc
            got = str(resp.get("ETag", "")).strip('"').lower()
            if got == local or not is_md5(got):
                # A tag that is not an MD5 (KMS encryption) cannot be compared; those stores
                # (AWS) check Content-MD5 themselves.
                return local
        raise TargetError(f"{self.where}: the store kept other bytes than we sent for {name} "
                          f"(MD5 {got}, expected {local}), {VERIFY_ATTEMPTS} times",
                          hint="the connection damages uploads; it is retried with backoff, "
                               "see: chartseal log --failed")

    def delete(self, names: list[str]) -> None:
        for start in range(0, len(names), 1000):
            chunk = names[start:start + 1000]
            try:
                resp = self.client.delete_objects(Bucket=self.bucket, Delete={
                    "Objects": [{"Key": self.key(n)} for n in chunk], "Quiet": True})
            except Exception as exc:  # noqa: BLE001
                raise self._error(exc, f"delete {len(chunk)} objects") from exc
            errors = resp.get("Errors") or []
            if errors:
                first = errors[0]
                raise TargetError(f"{self.where}: could not delete {len(errors)} objects, "
                                  f"e.g. {first.get('Key')}: {first.get('Code')} "
                                  f"{first.get('Message', '')}".rstrip(), hint=CRED_HINT)

    def list(self, prefix: str) -> Iterator[Listed]:
        full = self.key(prefix.rstrip("/")) + "/" if prefix else (
            self.prefix + "/" if self.prefix else "")
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full)
            for page in pages:
                for item in page.get("Contents", []):
                    yield Listed(self._name(item["Key"]), int(item["Size"]),
                                 str(item.get("ETag", "")).strip('"'))
        except TargetError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"list {prefix or 'the site'}") from exc

    def list_root(self) -> tuple[list[Listed], list[str]]:
        base = self.prefix + "/" if self.prefix else ""
        files: list[Listed] = []
        dirs: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base, Delimiter="/")
            for page in pages:
                files += [Listed(self._name(i["Key"]), int(i["Size"]), str(i.get("ETag", "")).strip('"'))
                          for i in page.get("Contents", [])]
                dirs += [self._name(p["Prefix"]) for p in page.get("CommonPrefixes", [])]
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "list the site root") from exc
        return files, dirs

    def get(self, name: str) -> bytes | None:
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=self.key(name))["Body"].read())
        except Exception as exc:  # noqa: BLE001
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                return None
            raise self._error(exc, f"download {name}") from exc


def _no_continue_for_small(params: dict[str, Any], model: Any = None, **_kw: Any) -> None:
    """Send small bodies at once, without ``Expect: 100-continue``.

    botocore makes every upload wait for the store's "100 Continue" before sending the
    body: one more round trip per object, which over a real network is most of the time a
    small object takes (on the bench's local moto server the difference is within noise).
    The header only saves sending a large body to a store about to refuse it, so it stays
    for those.
    """
    if getattr(model, "name", "") != "PutObject":
        return
    body = params.get("body")
    size = len(body.getbuffer()) if hasattr(body, "getbuffer") else (
        len(body) if isinstance(body, (bytes, bytearray)) else None)
    if size is not None and size < CONTINUE_FROM:
        params.get("headers", {}).pop("Expect", None)


def translate(exc: Exception, what: str, where: str) -> TargetError:
    """Turn a boto3/botocore failure into a message the clinic can act on."""
    from botocore import exceptions as bx

    if isinstance(exc, TargetError):
        return exc
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return TargetError(f"no S3 credentials found to {what} ({where})", fatal=True,
                           hint=CRED_HINT)
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = err.get("Message") or code
        if code in CREDENTIAL_CODES:
            return TargetError(f"the target refused our credentials: cannot {what} ({where}): "
                               f"{message}", hint=CRED_HINT, fatal=True)
        if code in BUCKET_CODES and "bucket" in what or code == "NoSuchBucket":
            return TargetError(f"the bucket does not exist: cannot {what} ({where})", fatal=True,
                               hint="create the bucket, or fix the target with: "
                                    "chartseal config set target s3://BUCKET/PREFIX")
        if code in ("301", "PermanentRedirect", "AuthorizationHeaderMalformed"):
            return TargetError(f"the bucket is in another region: cannot {what} ({where})",
                               fatal=True, hint="set it with: chartseal config set region REGION")
        return TargetError(f"cannot {what} ({where}): {status or ''} {code}: {message}".replace("  ", " "),
                           hint="it is retried with backoff; see: chartseal log --failed")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionClosedError,
                        bx.ConnectTimeoutError, bx.ReadTimeoutError, bx.HTTPClientError)):
        return TargetError(f"cannot reach the target to {what} ({where}): {exc}",
                           hint="check the network and the endpoint URL; nothing queued was "
                                "lost, run chartseal publish again when it is back")
    if isinstance(exc, bx.BotoCoreError):
        return TargetError(f"cannot {what} ({where}): {exc}")
    raise exc
