"""CloudFront: OAC to the private bucket, immutable cache policy, HTTPS, headers, error TTLs."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from tests.infra.helpers import get_att, logical_id, properties, ref

DISTRIBUTION = "AWS::CloudFront::Distribution"
OAC = "AWS::CloudFront::OriginAccessControl"
CACHE_POLICY = "AWS::CloudFront::CachePolicy"
HEADERS_POLICY = "AWS::CloudFront::ResponseHeadersPolicy"
ONE_YEAR_S = 365 * 24 * 3600


def distribution_config(template: Template) -> dict[str, Any]:
    config: dict[str, Any] = properties(template, DISTRIBUTION)["DistributionConfig"]
    return config


def test_an_origin_access_control_signs_every_s3_request(template: Template) -> None:
    config = properties(template, OAC)["OriginAccessControlConfig"]
    assert config["OriginAccessControlOriginType"] == "s3"
    assert config["SigningBehavior"] == "always"
    assert config["SigningProtocol"] == "sigv4"


def test_the_only_origin_is_the_bucket_through_that_oac(template: Template) -> None:
    (origin,) = distribution_config(template)["Origins"]
    assert origin["DomainName"] == get_att("ScreenshotsBucket", "RegionalDomainName")
    assert origin["OriginAccessControlId"] == get_att(logical_id(template, OAC), "Id")
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}


def test_no_origin_access_identity_exists(template: Template) -> None:
    template.resource_count_is("AWS::CloudFront::CloudFrontOriginAccessIdentity", 0)


def test_only_this_distribution_may_read_the_bucket(template: Template) -> None:
    statements = properties(template, "AWS::S3::BucketPolicy")["PolicyDocument"]["Statement"]
    allows = [statement for statement in statements if statement["Effect"] == "Allow"]
    assert allows == [
        {
            "Action": "s3:GetObject",
            "Condition": {
                "StringEquals": {
                    "AWS:SourceArn": {
                        "Fn::Join": [
                            "",
                            [
                                "arn:",
                                ref("AWS::Partition"),
                                ":cloudfront::",
                                ref("AWS::AccountId"),
                                ":distribution/",
                                ref(logical_id(template, DISTRIBUTION)),
                            ],
                        ]
                    }
                }
            },
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Resource": {"Fn::Join": ["", [get_att("ScreenshotsBucket", "Arn"), "/*"]]},
        }
    ]


def test_the_cache_policy_keeps_objects_a_year_and_defers_to_cache_control(
    template: Template,
) -> None:
    config = properties(template, CACHE_POLICY)["CachePolicyConfig"]
    assert config["DefaultTTL"] == ONE_YEAR_S
    assert config["MaxTTL"] == ONE_YEAR_S
    assert config["MinTTL"] == 0


def test_the_cache_key_is_the_path_alone(template: Template) -> None:
    key = properties(template, CACHE_POLICY)["CachePolicyConfig"][
        "ParametersInCacheKeyAndForwardedToOrigin"
    ]
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "none"}


def test_the_default_behavior_is_https_get_head_with_both_policies(template: Template) -> None:
    behavior = distribution_config(template)["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert behavior["CachedMethods"] == ["GET", "HEAD"]
    assert behavior["CachePolicyId"] == ref(logical_id(template, CACHE_POLICY))
    assert behavior["ResponseHeadersPolicyId"] == ref(logical_id(template, HEADERS_POLICY))


def test_http2_and_http3_are_served(template: Template) -> None:
    assert distribution_config(template)["HttpVersion"] == "http2and3"


def test_errors_403_and_404_are_cached_briefly(template: Template) -> None:
    assert distribution_config(template)["CustomErrorResponses"] == [
        {"ErrorCachingMinTTL": 10, "ErrorCode": 403},
        {"ErrorCachingMinTTL": 10, "ErrorCode": 404},
    ]


def test_responses_carry_nosniff_and_hsts(template: Template) -> None:
    headers = properties(template, HEADERS_POLICY)["ResponseHeadersPolicyConfig"]
    assert headers["SecurityHeadersConfig"] == {
        "ContentTypeOptions": {"Override": True},
        "StrictTransportSecurity": {
            "AccessControlMaxAgeSec": 730 * 24 * 3600,
            "IncludeSubdomains": True,
            "Override": True,
        },
    }


def test_no_cors_headers_without_configured_origins(template: Template) -> None:
    headers = properties(template, HEADERS_POLICY)["ResponseHeadersPolicyConfig"]
    assert "CorsConfig" not in headers


def test_cors_allows_exactly_the_configured_origins(custom_template: Template) -> None:
    headers = properties(custom_template, HEADERS_POLICY)["ResponseHeadersPolicyConfig"]
    assert headers["CorsConfig"] == {
        "AccessControlAllowCredentials": False,
        "AccessControlAllowHeaders": {"Items": ["*"]},
        "AccessControlAllowMethods": {"Items": ["GET", "HEAD"]},
        "AccessControlAllowOrigins": {
            "Items": ["https://app.example.com", "https://admin.example.com"]
        },
        "AccessControlMaxAgeSec": 86400,
        "OriginOverride": True,
    }


def test_the_default_certificate_and_domain_without_a_custom_domain(template: Template) -> None:
    config = distribution_config(template)
    assert "Aliases" not in config
    assert "ViewerCertificate" not in config


def test_a_custom_domain_uses_its_certificate_and_modern_tls(custom_template: Template) -> None:
    config = distribution_config(custom_template)
    assert config["Aliases"] == ["shots.example.com"]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": (
            "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
        ),
        "MinimumProtocolVersion": "TLSv1.2_2021",
        "SslSupportMethod": "sni-only",
    }


def test_policy_names_differ_per_region(template: Template) -> None:
    name = properties(template, HEADERS_POLICY)["ResponseHeadersPolicyConfig"]["Name"]
    assert ref("AWS::Region") in name["Fn::Join"][1]


def test_every_key_takes_the_one_behavior(template: Template) -> None:
    """PNG, WebP thumbnail and JSON record are served alike: no path pattern sends an extension
    elsewhere, and nothing at the edge (a function, Lambda@Edge) rewrites the response."""
    config = distribution_config(template)
    assert "CacheBehaviors" not in config
    behavior = config["DefaultCacheBehavior"]
    assert "FunctionAssociations" not in behavior
    assert "LambdaFunctionAssociations" not in behavior
    template.resource_count_is("AWS::CloudFront::Function", 0)


def test_the_objects_content_type_reaches_the_viewer(template: Template) -> None:
    """The function sets Content-Type on each object (image/png, image/webp, application/json);
    the headers policy adds security headers only, and nosniff makes browsers hold to that type."""
    headers = properties(template, HEADERS_POLICY)["ResponseHeadersPolicyConfig"]
    assert set(headers) == {"Name", "Comment", "SecurityHeadersConfig"}
    assert headers["SecurityHeadersConfig"]["ContentTypeOptions"] == {"Override": True}


def test_the_distribution_may_not_read_discarded_captures(template: Template) -> None:
    statements = properties(template, "AWS::S3::BucketPolicy")["PolicyDocument"]["Statement"]
    denies = [
        statement
        for statement in statements
        if statement["Effect"] == "Deny" and statement["Principal"] != {"AWS": "*"}
    ]
    assert denies == [
        {
            "Action": "s3:GetObject",
            "Effect": "Deny",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Resource": {"Fn::Join": ["", [get_att("ScreenshotsBucket", "Arn"), "/discarded/*"]]},
        }
    ]
