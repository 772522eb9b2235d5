"""The state table: `id` string key, `expiration` TTL, on demand, point-in-time recovery."""

from __future__ import annotations

from aws_cdk.assertions import Template

from tests.infra.helpers import properties

TABLE = "AWS::DynamoDB::Table"


def test_the_partition_key_is_the_string_id(template: Template) -> None:
    table = properties(template, TABLE)
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]


def test_items_expire_through_the_expiration_attribute(template: Template) -> None:
    assert properties(template, TABLE)["TimeToLiveSpecification"] == {
        "AttributeName": "expiration",
        "Enabled": True,
    }


def test_the_table_is_on_demand(template: Template) -> None:
    assert properties(template, TABLE)["BillingMode"] == "PAY_PER_REQUEST"


def test_point_in_time_recovery_is_on(template: Template) -> None:
    assert properties(template, TABLE)["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True
    }


def test_it_is_a_classic_table_not_a_global_one(template: Template) -> None:
    template.resource_count_is("AWS::DynamoDB::GlobalTable", 0)
