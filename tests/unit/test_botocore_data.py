"""The image's botocore data (packaging/botocore-data.py) keeps every service and S3 operation the
function calls: checked against the function's source and with a client built from the cut data."""

from __future__ import annotations

import ast
import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import botocore
import botocore.session
import pytest
from botocore.stub import Stubber

ROOT = Path(__file__).resolve().parents[2]
# Dev tools inside the package, never run in the image (lambda_fn.local's emulator needs moto,
# which the image lacks).
NOT_IN_THE_FUNCTION = {"local", "__main__.py"}


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "botocore_data", ROOT / "packaging" / "botocore-data.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = load_script()


def function_sources() -> dict[str, ast.Module]:
    return {
        path.relative_to(ROOT / "lambda_fn").as_posix(): ast.parse(path.read_text())
        for path in sorted((ROOT / "lambda_fn").rglob("*.py"))
        if not NOT_IN_THE_FUNCTION & set(path.relative_to(ROOT / "lambda_fn").parts)
    }


def test_every_client_the_function_makes_is_of_a_kept_service() -> None:
    services = {
        node.args[0].value
        for tree in function_sources().values()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "client"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "boto3"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert services == set(SCRIPT.SERVICES)


def test_every_s3_call_the_store_makes_is_a_kept_operation() -> None:
    tree = function_sources()["state/storage.py"]
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and ast.unparse(node.func.value) == "self.client"
    }
    kept = {botocore.xform_name(name) for name in SCRIPT.S3_OPERATIONS}
    assert calls
    assert calls <= kept


@pytest.fixture(scope="module")
def cut_session(tmp_path_factory: pytest.TempPathFactory) -> botocore.session.Session:
    data = tmp_path_factory.mktemp("botocore") / "data"
    shutil.copytree(Path(botocore.__file__).parent / "data", data)
    SCRIPT.trim(data)
    session = botocore.session.get_session()
    session.set_credentials("key", "secret")
    session.get_component("data_loader").search_paths[:] = [str(data)]
    return session


def test_cut_data_holds_only_the_kept_services(cut_session: botocore.session.Session) -> None:
    assert set(cut_session.get_available_services()) == set(SCRIPT.SERVICES)
    s3 = cut_session.create_client("s3", region_name="eu-west-1")
    assert set(s3.meta.service_model.operation_names) == set(SCRIPT.S3_OPERATIONS)


def test_store_calls_validate_against_the_cut_s3_model(
    cut_session: botocore.session.Session,
) -> None:
    s3 = cut_session.create_client("s3", region_name="eu-west-1")
    with Stubber(s3) as stub:
        stub.add_response("put_object", {"ETag": '"e"'})
        s3.put_object(
            Bucket="bucket",
            Key="screenshots/j/s-0.png",
            Body=b"png",
            ContentType="image/png",
            CacheControl="max-age=31536000, immutable",
            IfNoneMatch="*",
            ChecksumAlgorithm="SHA256",
        )
        stub.add_response("get_object", {"ContentLength": 3})
        s3.get_object(Bucket="bucket", Key="screenshots/j/s-0.png")
        stub.assert_no_pending_responses()


def test_state_table_calls_validate_against_the_cut_dynamodb_model(
    cut_session: botocore.session.Session,
) -> None:
    dynamodb = cut_session.create_client("dynamodb", region_name="eu-west-1")
    key = {"pk": {"S": "breaker#job"}}
    with Stubber(dynamodb) as stub:
        stub.add_response("get_item", {})
        dynamodb.get_item(TableName="state", Key=key, ConsistentRead=True)
        stub.add_response("update_item", {})
        dynamodb.update_item(
            TableName="state",
            Key=key,
            UpdateExpression="SET failures = :f",
            ExpressionAttributeValues={":f": {"N": "1"}},
        )
