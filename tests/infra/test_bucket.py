"""The screenshots bucket: private, TLS-only, SSE-S3, owner-enforced, versioned, retained."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template

from tests.infra.helpers import get_att, properties, single_resource

BUCKET = "AWS::S3::Bucket"


def test_the_bucket_keeps_its_pinned_logical_id(template: Template) -> None:
    assert single_resource(template, BUCKET)[0] == "ScreenshotsBucket"


def test_all_public_access_is_blocked(template: Template) -> None:
    assert properties(template, BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def test_objects_are_encrypted_with_s3_managed_keys(template: Template) -> None:
    assert properties(template, BUCKET)["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    }


def test_ownership_is_bucket_owner_enforced(template: Template) -> None:
    assert properties(template, BUCKET)["OwnershipControls"] == {
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]
    }


def test_versioning_is_enabled(template: Template) -> None:
    assert properties(template, BUCKET)["VersioningConfiguration"] == {"Status": "Enabled"}


def test_the_bucket_is_retained_when_the_stack_goes(template: Template) -> None:
    bucket = single_resource(template, BUCKET)[1]
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"


def test_requests_without_tls_are_denied(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": "ScreenshotsBucket"},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "s3:*",
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Resource": [
                                get_att("ScreenshotsBucket", "Arn"),
                                {"Fn::Join": ["", [get_att("ScreenshotsBucket", "Arn"), "/*"]]},
                            ],
                        }
                    ]
                )
            },
        },
    )


def expiry_rule(rule_id: str, prefix: str, days: int) -> dict[str, object]:
    return {
        "Id": rule_id,
        "Prefix": prefix,
        "ExpirationInDays": days,
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        "Status": "Enabled",
    }


def test_by_default_screenshots_are_kept_and_discarded_captures_expire_after_7_days(
    template: Template,
) -> None:
    assert properties(template, BUCKET)["LifecycleConfiguration"] == {
        "Rules": [expiry_rule("ExpireDiscarded", "discarded/", 7)]
    }


def test_lifecycle_expiry_follows_the_context_values(custom_template: Template) -> None:
    assert properties(custom_template, BUCKET)["LifecycleConfiguration"] == {
        "Rules": [
            expiry_rule("ExpireScreenshots", "screenshots/", 90),
            expiry_rule("ExpireDiscarded", "discarded/", 3),
        ]
    }
