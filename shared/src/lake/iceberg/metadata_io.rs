//! Iceberg metadata files in the lake bucket: table metadata JSON, manifests, manifest lists and
//! data file footers, read and written through `object_store` (COMMON15 §9).
//!
//! The crate's readers and writers work on its own `FileIO`; an in-memory one
//! ([`FileIO::new_with_memory`]) serves as the serialization buffer, so every byte is encoded and
//! decoded by the crate, and moved by `object_store`. Metadata refers to files by S3 URL
//! (`s3://<lake bucket>/<key>`); the lake store addresses them by key ([`MetadataStore::path`]).
//!
//! ```text
//! <location>/metadata/<5-digit version>-<uuid>.metadata.json
//! <location>/metadata/<commit uuid>-m<N>.avro               (manifests)
//! <location>/metadata/snap-<snapshot id>-<attempt>-<commit uuid>.avro   (manifest lists)
//! ```

use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use iceberg::MetadataLocation;
use iceberg::io::FileIO;
use iceberg::spec::{
    FormatVersion, Manifest, ManifestFile, ManifestList, ManifestListWriter, ManifestWriter,
    ManifestWriterBuilder, PartitionSpec, SchemaRef, Snapshot, TableMetadata,
};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetObjectReader};
use parquet::file::metadata::ParquetMetaData;
use uuid::Uuid;

use super::IcebergError;
use crate::lake::paths::ICEBERG_METADATA_DIR as METADATA_DIR;

/// The attempt number in manifest-list names: a retried commit is planned anew, with a new
/// snapshot id and commit uuid.
const MANIFEST_LIST_ATTEMPT: u32 = 0;

/// The URL of the `index`-th manifest a commit writes.
pub fn manifest_url(location: &str, commit: Uuid, index: usize) -> String {
    format!("{location}/{METADATA_DIR}/{commit}-m{index}.avro")
}

/// The URL of a snapshot's manifest list.
pub fn manifest_list_url(location: &str, snapshot_id: i64, commit: Uuid) -> String {
    format!("{location}/{METADATA_DIR}/snap-{snapshot_id}-{MANIFEST_LIST_ATTEMPT}-{commit}.avro")
}

/// The URL of the metadata file that follows `previous` (version + 1), or of a new table's first
/// one (version 0), for `metadata` of the table at `location`.
pub fn next_metadata_url(
    location: &str,
    previous: Option<&str>,
    metadata: &TableMetadata,
) -> Result<String, IcebergError> {
    let next = match previous {
        None => MetadataLocation::new_with_metadata(location, metadata),
        Some(previous) => MetadataLocation::from_str(previous)
            .map_err(|e| IcebergError::Corrupt {
                path: previous.to_owned(),
                detail: format!("not a metadata file name: {e}"),
            })?
            .with_next_version()
            .with_new_metadata(metadata),
    };
    Ok(next.to_string())
}

/// The lake bucket as the home of a table's Iceberg metadata.
#[derive(Debug, Clone)]
pub struct MetadataStore {
    store: Arc<dyn ObjectStore>,
    lake_url: String,
}

impl MetadataStore {
    /// The lake store and its bucket's URL (e.g. `s3://my-lake`).
    pub fn new(store: Arc<dyn ObjectStore>, lake_url: &str) -> MetadataStore {
        MetadataStore {
            store,
            lake_url: lake_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The URL of the object `path` (a table's Iceberg location when `path` is its root).
    pub fn url(&self, path: &Path) -> String {
        format!("{}/{path}", self.lake_url)
    }

    /// The object a URL of the lake bucket names.
    pub fn path(&self, url: &str) -> Result<Path, IcebergError> {
        let outside = || IcebergError::OutsideLake {
            url: url.to_owned(),
            lake_url: self.lake_url.clone(),
        };
        let key = url
            .strip_prefix(self.lake_url.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(outside)?;
        Path::parse(key).map_err(|_| outside())
    }

    async fn get(&self, url: &str) -> Result<Bytes, IcebergError> {
        let path = self.path(url)?;
        let storage = |source| storage_error(url, source);
        self.store
            .get(&path)
            .await
            .map_err(storage)?
            .bytes()
            .await
            .map_err(storage)
    }

    /// Creates the object at `url`; metadata file names are unique, so it never replaces one.
    async fn put_new(&self, url: &str, bytes: Bytes) -> Result<(), IcebergError> {
        let path = self.path(url)?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from(bytes), options)
            .await
        {
            Ok(_) => Ok(()),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Err(IcebergError::AlreadyExists {
                path: url.to_owned(),
            }),
            Err(source) => Err(IcebergError::Storage {
                path: url.to_owned(),
                source,
            }),
        }
    }

    /// Reads the table metadata at `url` (plain or gzip JSON), with the crate's deserializer.
    pub async fn read_metadata(&self, url: &str) -> Result<TableMetadata, IcebergError> {
        let buffer = Buffer::holding(url, self.get(url).await?).await?;
        TableMetadata::read_from(&buffer.0, url)
            .await
            .map_err(corrupt(url))
    }

    /// Writes `metadata` at `url` (named by [`next_metadata_url`]), with the crate's serializer.
    pub async fn write_metadata(
        &self,
        url: &str,
        metadata: &TableMetadata,
    ) -> Result<(), IcebergError> {
        let location = MetadataLocation::from_str(url)
            .map_err(IcebergError::spec(format!("naming metadata file {url}")))?;
        let buffer = Buffer::new();
        metadata
            .write_to(&buffer.0, &location)
            .await
            .map_err(IcebergError::spec(format!("serializing metadata {url}")))?;
        self.put_new(url, buffer.bytes(url).await?).await
    }

    /// Reads the manifest list of `snapshot` of a table of `format_version`.
    pub async fn read_manifest_list(
        &self,
        snapshot: &Snapshot,
        format_version: FormatVersion,
    ) -> Result<ManifestList, IcebergError> {
        let url = snapshot.manifest_list();
        let bytes = self.get(url).await?;
        ManifestList::parse_with_version(&bytes, format_version).map_err(corrupt(url))
    }

    /// Reads a manifest, its entries' inherited values (snapshot id, sequence numbers) filled in
    /// from `manifest`, its manifest-list entry.
    pub async fn read_manifest(&self, manifest: &ManifestFile) -> Result<Manifest, IcebergError> {
        let url = manifest.manifest_path.as_str();
        let buffer = Buffer::holding(url, self.get(url).await?).await?;
        manifest
            .load_manifest(&buffer.0)
            .await
            .map_err(corrupt(url))
    }

    /// Writes a data manifest at `url` for snapshot `snapshot_id`, with the entries `fill` adds,
    /// and returns its manifest-list entry.
    pub async fn write_manifest(
        &self,
        url: &str,
        snapshot_id: i64,
        schema: SchemaRef,
        spec: PartitionSpec,
        fill: impl FnOnce(&mut ManifestWriter) -> iceberg::Result<()>,
    ) -> Result<ManifestFile, IcebergError> {
        let buffer = Buffer::new();
        let written = async {
            let output = buffer.0.new_output(url)?;
            let mut writer =
                ManifestWriterBuilder::new(output, Some(snapshot_id), schema, spec).build_v2_data();
            fill(&mut writer)?;
            writer.write_manifest_file().await
        };
        let manifest = written
            .await
            .map_err(IcebergError::spec(format!("writing manifest {url}")))?;
        self.put_new(url, buffer.bytes(url).await?).await?;
        Ok(manifest)
    }

    /// Writes the manifest list of snapshot `snapshot_id` (child of `parent`, sequence number
    /// `sequence_number`) at `url`.
    pub async fn write_manifest_list(
        &self,
        url: &str,
        snapshot_id: i64,
        parent: Option<i64>,
        sequence_number: i64,
        manifests: Vec<ManifestFile>,
    ) -> Result<(), IcebergError> {
        let buffer = Buffer::new();
        let written = async {
            let output = buffer.0.new_output(url)?.writer().await?;
            let mut writer = ManifestListWriter::v2(output, snapshot_id, parent, sequence_number);
            writer.add_manifests(manifests.into_iter())?;
            writer.close().await
        };
        written
            .await
            .map_err(IcebergError::spec(format!("writing manifest list {url}")))?;
        self.put_new(url, buffer.bytes(url).await?).await
    }

    /// Reads the footer of the Parquet file at `url`, whose size is `size`.
    pub async fn read_footer(
        &self,
        url: &str,
        size: u64,
    ) -> Result<Arc<ParquetMetaData>, IcebergError> {
        let path = self.path(url)?;
        let mut reader =
            ParquetObjectReader::new(Arc::clone(&self.store), path).with_file_size(size);
        reader
            .get_metadata(None)
            .await
            .map_err(|e| footer_error(url, e))
    }
}

/// A store error reading `url`: a missing object is [`IcebergError::Missing`].
fn storage_error(url: &str, source: object_store::Error) -> IcebergError {
    match source {
        object_store::Error::NotFound { .. } => IcebergError::Missing {
            path: url.to_owned(),
        },
        source => IcebergError::Storage {
            path: url.to_owned(),
            source,
        },
    }
}

/// A footer read error: the store's (retryable unless missing), or an unreadable footer.
fn footer_error(url: &str, error: parquet::errors::ParquetError) -> IcebergError {
    match error {
        parquet::errors::ParquetError::External(source) => {
            match source.downcast::<object_store::Error>() {
                Ok(store) => storage_error(url, *store),
                Err(other) => IcebergError::Corrupt {
                    path: url.to_owned(),
                    detail: other.to_string(),
                },
            }
        }
        other => IcebergError::Corrupt {
            path: url.to_owned(),
            detail: other.to_string(),
        },
    }
}

/// An unreadable file's error.
fn corrupt(url: &str) -> impl FnOnce(iceberg::Error) -> IcebergError + '_ {
    move |e| IcebergError::Corrupt {
        path: url.to_owned(),
        detail: e.to_string(),
    }
}

/// An in-memory `FileIO`: what the crate's readers read from and its writers write to.
struct Buffer(FileIO);

impl Buffer {
    fn new() -> Buffer {
        Buffer(FileIO::new_with_memory())
    }

    /// A buffer holding `bytes` at `url`.
    async fn holding(url: &str, bytes: Bytes) -> Result<Buffer, IcebergError> {
        let buffer = Buffer::new();
        let held = async { buffer.0.new_output(url)?.write(bytes).await };
        held.await
            .map_err(IcebergError::spec(format!("buffering {url}")))?;
        Ok(buffer)
    }

    /// What was written at `url`.
    async fn bytes(&self, url: &str) -> Result<Bytes, IcebergError> {
        let read = async { self.0.new_input(url)?.read().await };
        read.await
            .map_err(IcebergError::spec(format!("buffering {url}")))
    }
}

#[cfg(test)]
#[path = "metadata_io_test.rs"]
mod tests;
