"""Local paths and ``s3://`` URIs as one pyarrow filesystem and a path.

pyarrow's ``S3FileSystem`` ignores ``AWS_ENDPOINT_URL``, so the endpoint of a
MinIO-style server is passed explicitly (``output.s3_endpoint`` or that variable).
Credentials come from the usual AWS environment variables.

>>> fs, path = resolve("/tmp/out/../out")
>>> path
'/tmp/out'
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


class StorageError(RuntimeError):
    """An output or input location that cannot be used."""


# The checks before a run (``OutputLocation.check_writable``) fail fast: an
# unreachable endpoint gave up after 2 min 34 s with the run's retry strategy.
PREFLIGHT_S3 = {"connect_timeout": 3.0, "request_timeout": 5.0, "max_attempts": 2}


def resolve(
    uri: str, endpoint: str | None = None, region: str | None = None, preflight: bool = False,
    attempts: int = 10,
) -> tuple[pafs.FileSystem, str]:
    """Return ``(filesystem, path)`` for a local path or an ``s3://bucket/prefix`` URI.

    ``attempts``: tries per S3 request, with backoff for throttling and dropped
    connections (``output.s3_retry_attempts``). ``preflight``: short timeouts and two
    attempts (:data:`PREFLIGHT_S3`), for the checks before a run, which must fail
    within seconds, not minutes.
    """
    if uri.startswith("s3://"):
        bucket_and_key = uri[len("s3://") :].strip("/")
        if not bucket_and_key:
            raise StorageError(f"{uri!r} names no bucket")
        kwargs: dict[str, object] = {
            "region": region or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=attempts),
        }
        if preflight:
            kwargs["connect_timeout"] = PREFLIGHT_S3["connect_timeout"]
            kwargs["request_timeout"] = PREFLIGHT_S3["request_timeout"]
            kwargs["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(
                max_attempts=int(PREFLIGHT_S3["max_attempts"]))
        if endpoint:
            parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
            kwargs["endpoint_override"] = parsed.netloc
            kwargs["scheme"] = parsed.scheme
        return pafs.S3FileSystem(**kwargs), bucket_and_key
    if "://" in uri and not uri.startswith("file://"):
        raise StorageError(f"unsupported URI scheme in {uri!r}: use a local path or s3://")
    path = uri[len("file://") :] if uri.startswith("file://") else uri
    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(path))


def list_files(fs: pafs.FileSystem, path: str, suffixes: tuple[str, ...]) -> list[str]:
    """``path`` itself if it is a file, else the files under it with a suffix, sorted."""
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [path]
    if info.type == pafs.FileType.NotFound:
        raise StorageError(f"not found: {path}")
    selector = pafs.FileSelector(path, recursive=True)
    return sorted(
        f.path for f in fs.get_file_info(selector)
        if f.type == pafs.FileType.File and f.path.endswith(suffixes)
    )


def parquet_files(fs: pafs.FileSystem, path: str, recursive: bool = False,
                  missing_ok: bool = False) -> list[str]:
    """The Parquet files in directory ``path``, sorted.

    Hidden and ``_`` files are skipped, as ``pyarrow.dataset`` and Ray Data skip
    them (a half-written file is hidden, :func:`write_bytes_atomic`). A missing
    directory is an error unless ``missing_ok`` (then: none).
    """
    selector = pafs.FileSelector(path, recursive=recursive, allow_not_found=missing_ok)
    return sorted(i.path for i in fs.get_file_info(selector)
                  if i.type == pafs.FileType.File and i.base_name.endswith(".parquet")
                  and not i.base_name.startswith((".", "_")))


def _temp_path(path: str) -> str:
    # Hidden from directory discovery, so a half-written file is never read as
    # data: pyarrow datasets skip a leading ".", Ray Data skips a non-.parquet suffix.
    head, _, name = path.rpartition("/")
    return f"{head}/.{name}.{uuid.uuid4().hex[:12]}.tmp"


def write_bytes_atomic(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one.

    Written to a hidden temporary, then moved: locally a rename, on S3 a
    server-side copy (an object is either wholly there or absent). Writing the
    final S3 key directly is not enough: pyarrow completes a multipart upload
    when the stream closes, even on an exception, leaving a partial object.
    """
    temp = _temp_path(path)
    fs.create_dir(path.rpartition("/")[0], recursive=True)
    with fs.open_output_stream(temp) as stream:
        stream.write(data)
    fs.move(temp, path)


def write_table_atomic(fs: pafs.FileSystem, path: str, table: pa.Table) -> None:
    """Write ``table`` as Parquet at ``path``, whole or not at all (see above)."""
    temp = _temp_path(path)
    fs.create_dir(path.rpartition("/")[0], recursive=True)
    try:
        pq.write_table(table, temp, filesystem=fs)
    except BaseException:
        if fs.get_file_info(temp).type == pafs.FileType.File:
            fs.delete_file(temp)
        raise
    fs.move(temp, path)


def local_copy(uri: str, cache: str, endpoint: str | None = None,
               region: str | None = None) -> str:
    """A local directory holding the files of the directory ``uri`` (``s3://``), downloaded once.

    The copy is named by a hash of ``uri`` and its files' sizes and modification
    times, so a checkpoint rewritten at the same URI is downloaded again, and
    placed by one rename (a concurrent or killed download never leaves a partial
    copy under that name). Used by each engine and training worker on its own node.
    """
    import hashlib
    import shutil
    import tempfile

    fs, root = resolve(uri, endpoint, region)
    selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
    files = sorted((i.path, i.size, str(i.mtime)) for i in fs.get_file_info(selector)
                   if i.type == pafs.FileType.File)
    if not files:
        raise StorageError(f"{uri} holds no files")
    key = hashlib.sha256(repr((uri, files)).encode()).hexdigest()[:16]
    dest = os.path.join(cache, key)
    if os.path.isdir(dest):
        return dest
    os.makedirs(cache, exist_ok=True)
    temp = tempfile.mkdtemp(prefix=f".{key}-", dir=cache)
    try:
        pafs.copy_files(root, temp, source_filesystem=fs,
                        destination_filesystem=pafs.LocalFileSystem())
        try:
            os.rename(temp, dest)
        except OSError:  # another process placed it first
            if not os.path.isdir(dest):
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return dest
