"""The artifact store in an S3 bucket: AWS S3 or any S3-compatible service.

boto3 is imported when the store is first used, not when this package is imported.
"""

from shipyard.store.s3.artifacts import S3ArtifactStore, parse_s3_url

__all__ = ["S3ArtifactStore", "parse_s3_url"]
