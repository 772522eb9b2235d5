"""CloudFront in front of the private bucket: Origin Access Control and an immutable cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, Names, Stack, Validations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.storage import DISCARDED_PREFIX

# Objects are content-addressed and never rewritten, so a year-long TTL can never serve stale
# pixels. The objects' own Cache-Control stays authoritative because the minimum TTL is zero.
IMMUTABLE_TTL = Duration.days(365)
# A snapshot URL can be fetched before its object lands (or after it expired): CloudFront must
# not remember that 403/404 for long. (OAC reads without s3:ListBucket, so a missing key is 403.)
ERROR_CACHING_TTL = Duration.seconds(10)
HSTS_MAX_AGE = Duration.days(730)


@dataclass(frozen=True, kw_only=True)
class CustomDomain:
    """An alternate domain name and its ACM certificate (which must live in us-east-1)."""

    domain_name: str
    certificate_arn: str


class ScreenshotCdn(Construct):
    """Serves the bucket's objects over HTTPS, GET/HEAD only, cached for a year."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        cors_allowed_origins: Sequence[str],
        custom_domain: CustomDomain | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.cache_policy = cloudfront.CachePolicy(
            self,
            "ImmutableCachePolicy",
            comment="Content-addressed screenshots: cache a year, key on the path only",
            default_ttl=IMMUTABLE_TTL,
            max_ttl=IMMUTABLE_TTL,
            min_ttl=Duration.seconds(0),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
        )
        self.response_headers_policy = cloudfront.ResponseHeadersPolicy(
            self,
            "ResponseHeadersPolicy",
            # Policy names are account-wide (CloudFront is global): keep one stack per region apart.
            response_headers_policy_name=f"{Names.unique_id(self)}-{Stack.of(self).region}",
            comment="nosniff, HSTS and CORS for the configured origins",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=HSTS_MAX_AGE,
                    include_subdomains=True,
                    override=True,
                ),
            ),
            cors_behavior=_cors_behavior(cors_allowed_origins),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Preview screenshots",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=self.cache_policy,
                response_headers_policy=self.response_headers_policy,
                # PNG and WebP are compressed already; the JSON records are a few KB.
                compress=False,
            ),
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            error_responses=[
                cloudfront.ErrorResponse(http_status=status, ttl=ERROR_CACHING_TTL)
                for status in (403, 404)
            ],
            domain_names=[custom_domain.domain_name] if custom_domain else None,
            certificate=_certificate(self, custom_domain),
            minimum_protocol_version=(
                cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if custom_domain else None
            ),
        )
        # The origin access grant covers the whole bucket; discarded captures are not the CDN's.
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(f"{DISCARDED_PREFIX}*")],
            )
        )
        self.domain_name = (
            custom_domain.domain_name if custom_domain else self.distribution.domain_name
        )
        self._acknowledge_findings(custom_domain)

    def _acknowledge_findings(self, custom_domain: CustomDomain | None) -> None:
        acknowledgments = [
            Acknowledgment(
                id="AwsSolutions-CFR1",
                reason=(
                    "Preview screenshots are viewed wherever the generator's users are; there is "
                    "no country the service must be withheld from."
                ),
            ),
            Acknowledgment(
                id="AwsSolutions-CFR2",
                reason=(
                    "The distribution serves only static, content-addressed PNGs from a private "
                    "bucket via GET/HEAD; there is no application or input for WAF rules to guard."
                ),
            ),
            Acknowledgment(
                id="AwsSolutions-CFR3",
                reason=(
                    "Objects are immutable, public-by-URL PNGs with no per-viewer data to audit; "
                    "standard logs would need an ACL-enabled log bucket (this stack keeps ACLs "
                    "disabled) and request and error rates are in the distribution's metrics."
                ),
            ),
        ]
        if custom_domain is None:
            acknowledgments.append(
                Acknowledgment(
                    id="AwsSolutions-CFR4",
                    reason=(
                        "Without a custom domain the distribution uses the default "
                        "*.cloudfront.net certificate, whose minimum TLS version cannot be set; "
                        "with a custom domain TLSv1.2_2021 is enforced."
                    ),
                )
            )
        Validations.of(self.distribution).acknowledge(*acknowledgments)


def _cors_behavior(allowed_origins: Sequence[str]) -> cloudfront.ResponseHeadersCorsBehavior | None:
    """CORS headers for the configured origins only; none at all when none are configured."""
    if not allowed_origins:
        return None
    return cloudfront.ResponseHeadersCorsBehavior(
        access_control_allow_origins=list(allowed_origins),
        access_control_allow_methods=["GET", "HEAD"],
        access_control_allow_headers=["*"],
        access_control_allow_credentials=False,
        access_control_max_age=Duration.days(1),
        origin_override=True,
    )


def _certificate(scope: Construct, custom_domain: CustomDomain | None) -> acm.ICertificate | None:
    if custom_domain is None:
        return None
    return acm.Certificate.from_certificate_arn(scope, "Certificate", custom_domain.certificate_arn)
