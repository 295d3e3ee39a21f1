"""The S3 client signs requests exactly as AWS documents Signature Version 4 for S3.

The expected signatures are AWS's own worked examples ("Signature Calculations for the
Authorization Header: Transferring Payload in a Single Chunk"), so a signing mistake shows
here without a server. The secret never appears in what is sent or shown.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mailintake_common.s3 import EMPTY_SHA256, S3Config, sign

EXAMPLE = S3Config(
    endpoint_url="https://examplebucket.s3.amazonaws.com",
    bucket="examplebucket",
    region="us-east-1",
    access_key_id="AKIAIOSFODNN7EXAMPLE",
    secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
)
WHEN = datetime(2013, 5, 24, tzinfo=UTC)


def test_a_get_with_a_range_is_signed_as_in_the_aws_example() -> None:
    headers = sign(EXAMPLE, "GET", "/test.txt", "", {"Range": "bytes=0-9"}, EMPTY_SHA256, WHEN)
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    assert headers["x-amz-date"] == "20130524T000000Z"


def test_a_put_with_its_payload_hash_is_signed_as_in_the_aws_example() -> None:
    payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"  # "Welcome to Amazon S3."
    extra = {"Date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"}
    headers = sign(EXAMPLE, "PUT", "/test%24file.text", "", extra, payload, WHEN)
    assert headers["authorization"].endswith(
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    )
    assert headers["x-amz-content-sha256"] == payload


def test_the_secret_is_neither_sent_nor_shown() -> None:
    headers = sign(EXAMPLE, "GET", "/test.txt", "", {}, EMPTY_SHA256, WHEN)
    assert not any(EXAMPLE.secret_access_key in value for value in headers.values())
    assert EXAMPLE.secret_access_key not in repr(EXAMPLE) and EXAMPLE.secret_access_key not in str(EXAMPLE)
