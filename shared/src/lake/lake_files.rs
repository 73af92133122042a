//! Parquet files of the lake: how they are written (sorted, compressed, with statistics and bloom
//! filters on the key columns, rolled over at the target size) and read back (footer first, then
//! only the row groups and columns a refresh needs).

use std::ops::Range;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use parquet::arrow::{AsyncArrowWriter, ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use thiserror::Error;

use crate::lake::key_ranges::{KeyBound, RangeTracker, bloom_may_contain};
use crate::lake::paths::file_name;
use crate::lake::snapshot::DataFile;
use crate::lake::table_config::{OutputCompression, OutputOptions};

/// False-positive rate of the key bloom filters.
const BLOOM_FPP: f64 = 0.01;

/// A lake Parquet file could not be written or read.
#[derive(Debug, Error)]
pub enum LakeFileError {
    /// The store failed; retryable.
    #[error("lake store error at {path}: {source}")]
    Storage {
        /// The object.
        path: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// Parquet encoding or decoding failed.
    #[error("Parquet error in {path}: {source}")]
    Parquet {
        /// The object.
        path: String,
        /// The Parquet error.
        #[source]
        source: ParquetError,
    },
}

fn parquet_error(path: &Path) -> impl Fn(ParquetError) -> LakeFileError + '_ {
    move |source| LakeFileError::Parquet {
        path: path.to_string(),
        source,
    }
}

/// Writer settings for lake files: the configured codec, page statistics, bloom filters on the key
/// columns and the sort order recorded in the footer.
pub fn writer_properties(
    output: &OutputOptions,
    schema: &SchemaRef,
    sort_columns: &[String],
    key_columns: &[String],
) -> WriterProperties {
    let compression = match output.compression {
        OutputCompression::Zstd => Compression::ZSTD(ZstdLevel::default()),
        OutputCompression::Snappy => Compression::SNAPPY,
    };
    let sorting = sort_columns
        .iter()
        .filter_map(|name| schema.index_of(name).ok())
        .map(|index| SortingColumn {
            column_idx: index as i32,
            descending: false,
            nulls_first: true,
        })
        .collect();
    key_columns
        .iter()
        .fold(
            WriterProperties::builder()
                .set_compression(compression)
                .set_statistics_enabled(EnabledStatistics::Page)
                .set_max_row_group_row_count(Some(output.row_group_rows))
                .set_sorting_columns(Some(sorting)),
            |builder, key| {
                let column = ColumnPath::from(key.as_str());
                builder
                    .set_column_bloom_filter_enabled(column.clone(), true)
                    .set_column_bloom_filter_fpp(column.clone(), BLOOM_FPP)
                    .set_column_bloom_filter_ndv(column, output.row_group_rows as u64)
            },
        )
        .build()
}

struct OpenFile {
    name: String,
    writer: AsyncArrowWriter<BufWriter>,
    ranges: RangeTracker,
    rows: u64,
}

/// Writes sorted batches into `<prefix>-NNNNN.parquet` files of one folder, starting a new file when
/// the current one reaches the target size.
pub struct RollingWriter {
    store: Arc<dyn ObjectStore>,
    folder: Path,
    schema: SchemaRef,
    properties: WriterProperties,
    target_bytes: u64,
    key_indices: Vec<usize>,
    key_hive_types: Vec<String>,
    name_prefix: String,
    open: Option<OpenFile>,
    written: Vec<DataFile>,
}

impl RollingWriter {
    /// A writer into `folder`. `key_indices` locate the key columns in `schema`; their Hive types
    /// are recorded with the key ranges.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        folder: Path,
        schema: SchemaRef,
        properties: WriterProperties,
        target_bytes: u64,
        key_indices: Vec<usize>,
        key_hive_types: Vec<String>,
    ) -> RollingWriter {
        RollingWriter {
            store,
            folder,
            schema,
            properties,
            target_bytes,
            key_indices,
            key_hive_types,
            name_prefix: "part".to_owned(),
            open: None,
            written: Vec::new(),
        }
    }

    /// Names files `<prefix>-NNNNN.parquet` (default prefix `part`), so files of different
    /// versions can share a folder.
    pub fn with_name_prefix(mut self, prefix: String) -> RollingWriter {
        self.name_prefix = prefix;
        self
    }

    /// Appends a batch (rows must continue the sort order of the previous ones).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), LakeFileError> {
        let chunk = self
            .properties
            .max_row_group_row_count()
            .unwrap_or(usize::MAX)
            .max(1);
        let mut offset = 0;
        while offset < batch.num_rows() {
            let rows = chunk.min(batch.num_rows() - offset);
            self.write_chunk(&batch.slice(offset, rows)).await?;
            offset += rows;
        }
        Ok(())
    }

    /// Writes at most one row group's worth of rows, then rolls over if the file is full.
    async fn write_chunk(&mut self, batch: &RecordBatch) -> Result<(), LakeFileError> {
        let file = match self.open.take() {
            Some(file) => file,
            None => self.start_file()?,
        };
        let mut file = file;
        let keys: Vec<ArrayRef> = self
            .key_indices
            .iter()
            .map(|i| Arc::clone(batch.column(*i)))
            .collect();
        file.ranges.update(&keys);
        file.rows += batch.num_rows() as u64;
        let path = self.folder.clone().join(file.name.as_str());
        file.writer
            .write(batch)
            .await
            .map_err(parquet_error(&path))?;
        let size = (file.writer.bytes_written() + file.writer.in_progress_size()) as u64;
        if size >= self.target_bytes {
            self.close_file(file).await?;
        } else {
            self.open = Some(file);
        }
        Ok(())
    }

    fn start_file(&self) -> Result<OpenFile, LakeFileError> {
        let name = file_name(&self.name_prefix, self.written.len());
        let path = self.folder.clone().join(name.as_str());
        let sink = BufWriter::new(Arc::clone(&self.store), path.clone());
        let writer = AsyncArrowWriter::try_new(
            sink,
            Arc::clone(&self.schema),
            Some(self.properties.clone()),
        )
        .map_err(parquet_error(&path))?;
        Ok(OpenFile {
            name,
            writer,
            ranges: RangeTracker::new(self.key_hive_types.clone()),
            rows: 0,
        })
    }

    async fn close_file(&mut self, mut file: OpenFile) -> Result<(), LakeFileError> {
        let path = self.folder.clone().join(file.name.as_str());
        file.writer.finish().await.map_err(parquet_error(&path))?;
        self.written.push(DataFile {
            name: file.name,
            size: file.writer.bytes_written() as u64,
            rows: file.rows,
            key_ranges: file.ranges.finish(),
            folder: None,
        });
        Ok(())
    }

    /// Closes the last file and returns every file written.
    pub async fn finish(mut self) -> Result<Vec<DataFile>, LakeFileError> {
        if let Some(file) = self.open.take() {
            self.close_file(file).await?;
        }
        Ok(self.written)
    }
}

/// Reads byte ranges of one lake object whose size is known from the snapshot, so the footer
/// is fetched with a single ranged GET.
pub struct LakeObjectReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

fn store_error(error: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(error))
}

impl AsyncFileReader for LakeObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.store
            .get_range(&self.path, range)
            .map_err(store_error)
            .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(store_error)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_metadata_options(options.map(|o| o.metadata_options().clone()))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// A lake file opened by its footer.
pub struct StoredFile {
    path: Path,
    builder: ParquetRecordBatchStreamBuilder<LakeObjectReader>,
}

impl StoredFile {
    /// Reads the footer of `path` (whose size is known from the snapshot).
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        path: Path,
        size: u64,
    ) -> Result<StoredFile, LakeFileError> {
        let reader = LakeObjectReader {
            store,
            path: path.clone(),
            size,
        };
        let builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(parquet_error(&path))?;
        Ok(StoredFile { path, builder })
    }

    /// The file's arrow schema.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(self.builder.schema())
    }

    /// Row groups whose key bloom filters may hold one of `keys` (all when the file has no bloom
    /// filters). `key_columns` are the key column names and table types, in key order.
    pub async fn row_groups_with_any(
        &mut self,
        key_columns: &[(String, DataType)],
        keys: &[&[Option<KeyBound>]],
    ) -> Result<Vec<usize>, LakeFileError> {
        // Resolved before any await: the builder is not `Sync`, so no borrow of it may live
        // across one (the refresh future must stay `Send`).
        let leaves: Vec<Option<usize>> = {
            let schema = self.schema();
            let descr = self.builder.metadata().file_metadata().schema_descr();
            key_columns
                .iter()
                .map(|(name, _)| {
                    let root = schema.index_of(name).ok()?;
                    (0..descr.num_columns()).find(|leaf| descr.get_column_root_idx(*leaf) == root)
                })
                .collect()
        };
        let mut selected = Vec::new();
        for row_group in 0..self.builder.metadata().num_row_groups() {
            let mut filters = Vec::with_capacity(leaves.len());
            for leaf in &leaves {
                let filter = match leaf {
                    Some(leaf) => self
                        .builder
                        .get_row_group_column_bloom_filter(row_group, *leaf)
                        .await
                        .map_err(parquet_error(&self.path))?,
                    None => None,
                };
                filters.push(filter);
            }
            let hit = keys.iter().any(|key| {
                filters.iter().zip(key_columns).zip(key.iter()).all(
                    |((filter, (_, data_type)), value)| match (filter, value) {
                        (Some(filter), Some(value)) => bloom_may_contain(filter, data_type, value),
                        _ => true,
                    },
                )
            });
            if hit {
                selected.push(row_group);
            }
        }
        Ok(selected)
    }

    /// Streams the given row groups (all when `None`), only the named columns that exist in the file
    /// (all when `None`).
    pub fn stream(
        self,
        columns: Option<&[String]>,
        row_groups: Option<Vec<usize>>,
        batch_rows: usize,
    ) -> Result<ParquetRecordBatchStream<LakeObjectReader>, LakeFileError> {
        let mut builder = self.builder.with_batch_size(batch_rows.max(1));
        if let Some(columns) = columns {
            let schema = Arc::clone(builder.schema());
            let roots: Vec<usize> = columns
                .iter()
                .filter_map(|c| schema.index_of(c).ok())
                .collect();
            let mask =
                ProjectionMask::roots(builder.metadata().file_metadata().schema_descr(), roots);
            builder = builder.with_projection(mask);
        }
        if let Some(row_groups) = row_groups {
            builder = builder.with_row_groups(row_groups);
        }
        builder.build().map_err(parquet_error(&self.path))
    }
}
