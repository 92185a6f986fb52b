"""What the benchmark's boto3 clients share: a Partner Central Selling client of the emulator
(its fixed keys and region), and the ids of a CSV with an `id` column."""
import boto3
from botocore.config import Config


def partner_central(endpoint, **config):
    """A boto3 client of the emulator at `endpoint`; `config` goes to botocore's Config."""
    return boto3.client(
        "partnercentral-selling",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIAHANDOFFEMULATOR1",
        aws_secret_access_key="handoff-emulator-secret",
        config=Config(**config),
    )


def read_ids(path):
    return [line.strip() for line in open(path) if line.strip() and line.strip() != "id"]
