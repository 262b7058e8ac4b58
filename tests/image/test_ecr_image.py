"""registry.type ecr in the hook image, run as the chart runs it: boto3 from the `aws` extra, with
only the ECR and STS models botocore keeps there, proves push against moto and the ECR registry
gate, and the helper's `serve` reads its identity from STS before listening."""

from __future__ import annotations

import json

from tests.hook.test_ecr import ecr_values
from tests.image.container import VALUES_PATH, run_image
from tests.image.test_image import values_file


def test_ecr_provision_in_the_image_proves_push_with_boto3(hook_image, tmp_path, aws):
    mounts = values_file(tmp_path, ecr_values(aws))
    result = run_image(hook_image, "provision", "--values", VALUES_PATH, "--output", "-", mounts=mounts, env=aws.env())
    assert result.code == 0, result.stderr
    configmap = result.document("ConfigMap")
    assert json.loads(configmap["data"]["registry.json"])["imagePrefix"] == f"{aws.registry.url.split('://')[1]}/binder/binder-"
    assert any(r.is_upload_start("binder/binder-push-check") and r.status == 202 for r in aws.registry.seen())
    assert aws.repositories() == set()


def test_ecr_without_an_identity_in_the_image_is_one_sentence(hook_image, tmp_path, aws):
    mounts = values_file(tmp_path, ecr_values(aws))
    env = aws.env(AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
    result = run_image(hook_image, "provision", "--values", VALUES_PATH, "--output", "-", mounts=mounts, env=env)
    assert result.code == 2, result.stderr
    assert "no AWS identity is available" in result.last_line and "Traceback" not in result.stderr
