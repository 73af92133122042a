//! Unit tests of what `dms_reader` reads: exactly the recorded object version, and never more
//! decompressed bytes than the caller's limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use object_store::memory::InMemory;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::*;

const KEY: &str = "dms/sales/orders/20240101-000000000";

fn input() -> InputFormat {
    super::tests::input(&[("id", "bigint"), ("note", "string")])
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A zstd-compressed Parquet CDC file of `rows` rows whose `note` holds `note_len` bytes each
/// (plain-encoded, so the footer's uncompressed size is what the values decode to).
fn parquet(rows: usize, note_len: usize) -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("Op", DataType::Utf8, true),
        Field::new("id", DataType::Int64, true),
        Field::new("note", DataType::Utf8, true),
    ]));
    let note = "n".repeat(note_len);
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(vec!["I"; rows])),
            Arc::new(Int64Array::from_iter_values(0..rows as i64)),
            Arc::new(StringArray::from(vec![note.as_str(); rows])),
        ],
    )
    .unwrap();
    let mut out = Vec::new();
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_dictionary_enabled(false)
        .build();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    out
}

async fn store_with(path: &Path, contents: Vec<u8>) -> (EntityTagStore, String) {
    let store = EntityTagStore(InMemory::new());
    let put = store.put(path, PutPayload::from(contents)).await.unwrap();
    (store, put.e_tag.unwrap())
}

/// `InMemory` compares `If-Match` with its ETags literally; S3 (and moto) compare entity tags, whose
/// quotes are delimiters. This store strips the quotes before asking `InMemory`, so it answers a
/// conditional read as S3 does.
#[derive(Debug)]
struct EntityTagStore(InMemory);

impl std::fmt::Display for EntityTagStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EntityTagStore({})", self.0)
    }
}

#[async_trait::async_trait]
impl ObjectStore for EntityTagStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.0.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        mut options: GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        options.if_match = options.if_match.map(|tag| tag.replace('"', ""));
        self.0.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
        self.0.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.0.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.0.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.0.copy_opts(from, to, options).await
    }
}

/// Reads the current object at `path` (no recorded version) within `max_bytes`.
async fn read_current(
    store: &dyn ObjectStore,
    path: &Path,
    format: FileFormat,
    max_bytes: u64,
) -> Result<FileChanges, ReadError> {
    read_limited(store, path, format, &RecordedVersion::Current, max_bytes).await
}

async fn read_limited(
    store: &dyn ObjectStore,
    path: &Path,
    format: FileFormat,
    version: &RecordedVersion,
    max_bytes: u64,
) -> Result<FileChanges, ReadError> {
    let file = ChangeFileRef {
        path,
        kind: FileKind::Cdc,
        format,
        version,
        max_bytes,
    };
    read_change_file(store, &file, &input()).await
}

fn assert_too_large(result: Result<FileChanges, ReadError>, path: &Path, limit: u64) {
    match result {
        Err(error @ ReadError::TooLarge { .. }) => {
            let message = error.to_string();
            assert!(message.contains(path.as_ref()), "{message}");
            assert!(message.contains(&limit.to_string()), "{message}");
            assert!(
                message.contains("TRIBUTARY_MAX_BYTES_PER_REFRESH"),
                "{message}"
            );
            assert_eq!(error.file(), path.as_ref());
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_once_it_decompresses_beyond_the_limit_naming_file_and_limit() {
    // 16 MiB of one repeated row compress to a few KiB: small to fetch, huge to hold.
    let text = "I,1,x\n".repeat(16 << 20 >> 3);
    let bomb = gzip(text.as_bytes());
    assert!(bomb.len() < 100_000, "{} compressed bytes", bomb.len());
    let path = Path::from(format!("{KEY}.csv.gz"));
    let (store, _) = store_with(&path, bomb).await;
    let limit = 1 << 20;
    let result = read_current(&store, &path, FileFormat::CsvGzip, limit).await;
    assert_too_large(result, &path, limit);
}

#[tokio::test]
async fn a_gzip_file_decompressing_to_exactly_the_limit_is_read() {
    let text = "I,1,x\n".repeat(1_000);
    let text = text.as_str();
    let path = Path::from(format!("{KEY}.csv.gz"));
    let (store, _) = store_with(&path, gzip(text.as_bytes())).await;
    let limit = text.len() as u64;
    let changes = read_current(&store, &path, FileFormat::CsvGzip, limit)
        .await
        .unwrap();
    assert_eq!(changes.columns.num_rows(), 1_000);
    let result = read_current(&store, &path, FileFormat::CsvGzip, limit - 1).await;
    assert_too_large(result, &path, limit - 1);
}

#[tokio::test]
async fn an_object_stored_larger_than_the_limit_is_refused_before_it_is_read() {
    let path = Path::from(format!("{KEY}.csv"));
    let (store, _) = store_with(&path, b"I,1,x\nI,2,y\n".to_vec()).await;
    let result = read_current(&store, &path, FileFormat::Csv, 5).await;
    assert_too_large(result, &path, 5);
}

#[tokio::test]
async fn a_parquet_file_whose_columns_decompress_beyond_the_limit_is_refused() {
    // Repeated values compress to almost nothing; the footer tells their uncompressed size.
    let data = parquet(10_000, 100);
    let stored = data.len() as u64;
    let path = Path::from(format!("{KEY}.parquet"));
    let (store, _) = store_with(&path, data).await;
    let limit = stored * 2;
    let result = read_current(&store, &path, FileFormat::Parquet, limit).await;
    assert_too_large(result, &path, limit);
    let changes = read_current(&store, &path, FileFormat::Parquet, u64::MAX)
        .await
        .unwrap();
    assert_eq!(changes.columns.num_rows(), 10_000);
}

#[tokio::test]
async fn the_recorded_etag_is_read_and_an_overwritten_object_is_a_gone_version() {
    let path = Path::from(format!("{KEY}.csv"));
    let (store, first_etag) = store_with(&path, b"I,1,first\n".to_vec()).await;
    let recorded = RecordedVersion::ETag(first_etag.clone());
    let changes = read_limited(&store, &path, FileFormat::Csv, &recorded, u64::MAX)
        .await
        .unwrap();
    assert_eq!(changes.columns.num_rows(), 1);

    store
        .put(&path, PutPayload::from_static(b"I,1,second\n"))
        .await
        .unwrap();
    match read_limited(&store, &path, FileFormat::Csv, &recorded, u64::MAX).await {
        Err(ReadError::VersionGone { file, version }) => {
            assert_eq!(file, path.as_ref());
            assert!(version.contains(&first_etag), "{version}");
        }
        other => panic!("expected VersionGone, got {other:?}"),
    }
    // Without a recorded version, the current object is read.
    let current = read_current(&store, &path, FileFormat::Csv, u64::MAX)
        .await
        .unwrap();
    assert_eq!(current.columns.num_rows(), 1);
}

#[tokio::test]
async fn a_deleted_object_is_a_gone_version_only_when_a_version_was_recorded() {
    let path = Path::from(format!("{KEY}.csv"));
    let store = InMemory::new();
    let recorded = RecordedVersion::ETag("0".to_owned());
    let gone = read_limited(&store, &path, FileFormat::Csv, &recorded, u64::MAX).await;
    assert!(
        matches!(gone, Err(ReadError::VersionGone { .. })),
        "{gone:?}"
    );
    let missing = read_current(&store, &path, FileFormat::Csv, u64::MAX).await;
    assert!(
        matches!(missing, Err(ReadError::Storage { .. })),
        "{missing:?}"
    );
}
