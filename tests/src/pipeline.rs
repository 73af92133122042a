//! A whole Tributary pipeline on the local AWS emulator: staging and lake buckets, the three
//! DynamoDB tables, a Glue database, the file-manager service and the processor wired exactly as
//! the Lambda functions wire them (`aws::processor`), with a controlled clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tributary_shared::adapters::dynamodb_file_tracker::DynamoDbFileTracker;
use tributary_shared::adapters::dynamodb_processing_tracker::{
    DynamoDbProcessingTracker, TableState,
};
use tributary_shared::adapters::dynamodb_table_registry::DynamoDbTableRegistry;
use tributary_shared::adapters::glue_catalog::GlueCatalog;
use tributary_shared::adapters::local_stack::create_bucket;
use tributary_shared::adapters::s3_object_store::s3_object_store;
use tributary_shared::bootstrap::aws::{self, AwsProcessor};
use tributary_shared::bootstrap::config::{ProcessorConfig, vars};
use tributary_shared::contract::BatchSummary;
use tributary_shared::domain::dms_layout::{SourceTable, StagingLayout};
use tributary_shared::lake::refresh::LakeStores;
use tributary_shared::ports::catalog::{Catalog, CatalogPartition, TableDefinition};
use tributary_shared::ports::clock::Clock;
use tributary_shared::ports::file_tracker::FileBacklog;
use tributary_shared::ports::processing_tracker::{ProcessingTracker, RefreshRecord};
use tributary_shared::ports::table_registry::RegisteredTable;
use tributary_shared::ports::table_registry::TableRegistry;
use tributary_shared::services::file_manager::FileManager;
use tributary_shared::services::processor::{Invocation, Processor};

use crate::{Item, LocalAws, s3_notification, unique_name};

/// The DMS bucket folder the pipeline's layout expects.
pub const DMS_FOLDER: &str = "dms";
/// The cadence tables are registered with.
pub const CADENCE: &str = "10min";

/// A clock tests move by hand.
#[derive(Debug)]
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    /// A clock at the current time.
    pub fn new() -> Arc<TestClock> {
        Arc::new(TestClock(Mutex::new(Utc::now())))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().expect("clock lock");
        *now += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// An object uploaded to the staging bucket.
#[derive(Debug, Clone)]
pub struct UploadedObject {
    /// Its key.
    pub key: String,
    /// Its ETag, without quotes.
    pub etag: String,
    /// Its version id, in a versioned bucket.
    pub version_id: Option<String>,
    /// Its size in bytes.
    pub size: u64,
}

/// How a test pipeline's staging bucket is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StagingBucket {
    /// As the stack template defines it (versioned).
    AsTheStack,
    /// Never versioned.
    Unversioned,
}

/// One pipeline with its own resources.
pub struct Pipeline {
    /// The emulator.
    pub aws: LocalAws,
    /// The processor configuration (as the function would read it).
    pub config: ProcessorConfig,
    /// The Glue database tables are published to.
    pub database: String,
    /// The clock every processor of this pipeline uses.
    pub clock: Arc<TestClock>,
    file_manager: FileManager<DynamoDbFileTracker, DynamoDbTableRegistry>,
    invocations: Mutex<u32>,
}

impl Pipeline {
    /// Creates the buckets (as the stack defines them: versioned), tables and database names of
    /// a fresh pipeline; `settings` overrides processor environment variables.
    pub async fn new(settings: &[(&str, &str)]) -> Pipeline {
        Pipeline::with_staging(settings, StagingBucket::AsTheStack).await
    }

    /// A fresh pipeline whose staging bucket was never versioned (an overwrite replaces the only
    /// copy of an object), as a user-managed bucket may be.
    pub async fn with_unversioned_staging(settings: &[(&str, &str)]) -> Pipeline {
        Pipeline::with_staging(settings, StagingBucket::Unversioned).await
    }

    async fn with_staging(settings: &[(&str, &str)], kind: StagingBucket) -> Pipeline {
        let aws = LocalAws::connect().await;
        let staging = unique_name("staging");
        let lake = unique_name("lake");
        for (logical_id, bucket) in [("StagingBucket", &staging), ("LakeBucket", &lake)] {
            if logical_id == "StagingBucket" && kind == StagingBucket::Unversioned {
                aws.s3()
                    .create_bucket()
                    .bucket(bucket)
                    .send()
                    .await
                    .expect("create an unversioned bucket");
                continue;
            }
            create_bucket(&aws.s3(), logical_id, bucket)
                .await
                .expect("create a bucket as the stack defines it");
        }
        let dynamodb = aws.dynamodb();
        let tracker = unique_name("files");
        let processing = unique_name("processing");
        let registry = unique_name("config");
        DynamoDbFileTracker::create_table(&dynamodb, &tracker)
            .await
            .expect("create file tracker");
        DynamoDbProcessingTracker::create_table(&dynamodb, &processing)
            .await
            .expect("create processing tracker");
        DynamoDbTableRegistry::create_table(&dynamodb, &registry)
            .await
            .expect("create registry");
        let mut env: HashMap<String, String> = HashMap::from([
            (vars::FILE_TRACKER_TABLE.into(), tracker.clone()),
            (vars::PROCESSING_TABLE.into(), processing),
            (vars::CONFIG_TABLE.into(), registry.clone()),
            (vars::STAGING_BUCKET.into(), staging.clone()),
            (vars::LAKE_BUCKET.into(), lake),
        ]);
        for (name, value) in settings {
            env.insert((*name).to_owned(), (*value).to_owned());
        }
        let config =
            ProcessorConfig::from_lookup(|name| env.get(name).cloned()).expect("valid config");
        let layout = StagingLayout::new(staging, DMS_FOLDER, None).expect("valid layout");
        let file_manager = FileManager::new(
            layout,
            DynamoDbFileTracker::new(dynamodb.clone(), tracker),
            DynamoDbTableRegistry::new(dynamodb, registry),
            8,
        );
        Pipeline {
            aws,
            config,
            database: unique_name("lake").replace('-', "_"),
            clock: TestClock::new(),
            file_manager,
            invocations: Mutex::new(0),
        }
    }

    /// Registers a table: `spec` is a TableSpec JSON whose target database is replaced by the
    /// pipeline's.
    pub async fn register(&self, spec: &serde_json::Value, active: bool) {
        let mut spec = spec.clone();
        spec["target"]["database"] = serde_json::Value::String(self.database.clone());
        let table_id = SourceTable {
            schema: spec["source"]["schema"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            table: spec["source"]["table"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
        .id();
        self.registry()
            .put_table(&RegisteredTable {
                table_id,
                refresh_cadence: CADENCE.to_owned(),
                active,
                spec_json: spec.to_string(),
            })
            .await
            .expect("register table");
    }

    /// Uploads a DMS file for `schema.table` named `name` and delivers its S3 notification to
    /// the file-manager service, as the deployed route would (with the object's version id: the
    /// staging bucket is versioned, as in the stack).
    pub async fn stage(&self, table_id: &str, name: &str, contents: impl Into<Vec<u8>>) {
        let object = self.upload(table_id, name, contents).await;
        self.notify(&object, None).await;
    }

    /// Uploads a DMS file for `schema.table` named `name` without notifying anyone (its event
    /// is late, or lost).
    pub async fn upload(
        &self,
        table_id: &str,
        name: &str,
        contents: impl Into<Vec<u8>>,
    ) -> UploadedObject {
        let key = format!("{DMS_FOLDER}/{}/{name}", table_id.replacen('.', "/", 1));
        let body: Vec<u8> = contents.into();
        let size = body.len() as u64;
        let put = self
            .aws
            .s3()
            .put_object()
            .bucket(&self.config.staging_bucket)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .expect("stage object");
        UploadedObject {
            key,
            etag: put.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
            version_id: put.version_id().map(str::to_owned),
            size,
        }
    }

    /// Delivers the S3 notification of `object` to the file-manager service, with the version
    /// id S3 returned (versioned buckets) and, when given, the event's `sequencer` (the order of
    /// a key's writes).
    pub async fn notify(&self, object: &UploadedObject, sequencer: Option<&str>) {
        let mut event = s3_notification(
            &self.config.staging_bucket,
            &object.key,
            &object.etag,
            object.size,
        );
        let fields = &mut event["Records"][0]["s3"]["object"];
        if let Some(version_id) = &object.version_id {
            fields["versionId"] = serde_json::Value::from(version_id.as_str());
        }
        if let Some(sequencer) = sequencer {
            fields["sequencer"] = serde_json::Value::from(sequencer);
        }
        self.file_manager
            .handle(&event)
            .await
            .expect("record landed file");
    }

    /// A processor wired like the Lambda function's, on this pipeline's clock.
    pub fn processor(&self) -> AwsProcessor {
        aws::processor(&self.config, &self.aws.sdk, self.clock.clone()).expect("processor")
    }

    /// A fresh invocation with 15 minutes before its deadline.
    pub fn invocation(&self) -> Invocation {
        let mut count = self.invocations.lock().expect("invocation counter");
        *count += 1;
        Invocation {
            request_id: format!("request-{count}"),
            deadline: self.clock.now() + Duration::minutes(15),
        }
    }

    /// Runs one processor invocation over `tables`.
    pub async fn run(&self, tables: &[&str]) -> BatchSummary {
        self.run_with(&self.processor(), tables).await
    }

    /// Runs one invocation of `processor` (the real one, or one wired to fault-injecting ports)
    /// over `tables`.
    pub async fn run_with<R, T, B, C>(
        &self,
        processor: &Processor<R, T, B, C>,
        tables: &[&str],
    ) -> BatchSummary
    where
        R: TableRegistry,
        T: ProcessingTracker,
        B: FileBacklog,
        C: Catalog,
    {
        let input = serde_json::json!({"refresh_cadence": CADENCE, "batch": 0, "tables": tables});
        processor
            .handle(&input, &self.invocation())
            .await
            .expect("the invocation runs")
    }

    /// The processor's ports, wired as `aws::processor` wires them: registry, processing tracker,
    /// file tracker (fenced by the processing tracker's leases), Glue catalog.
    pub fn ports(
        &self,
    ) -> (
        DynamoDbTableRegistry,
        DynamoDbProcessingTracker,
        DynamoDbFileTracker,
        GlueCatalog,
    ) {
        (
            self.registry(),
            self.processing(),
            DynamoDbFileTracker::new(self.aws.dynamodb(), &self.config.file_tracker_table)
                .with_lease_table(&self.config.processing_table),
            self.catalog(),
        )
    }

    /// The staging and lake buckets through object_store.
    pub fn stores(&self) -> LakeStores {
        LakeStores {
            staging: self.staging_store(),
            lake: self.lake_store(),
        }
    }

    /// The Glue partitions of table `name`.
    pub async fn catalog_partitions(&self, name: &str) -> Vec<CatalogPartition> {
        let table = self.glue_table(name).await.expect("the Glue table");
        let mut partitions = self
            .catalog()
            .partitions(&table)
            .await
            .expect("read the Glue partitions");
        partitions.sort();
        partitions
    }

    /// Copies the Parquet files of every partition the Glue table `name` points to into `dir`, in
    /// Hive layout (`key=value/…`), for engines that read local files.
    pub async fn export_partitions(&self, name: &str, dir: &std::path::Path) {
        let table = self.glue_table(name).await.expect("the Glue table");
        for partition in self.catalog_partitions(name).await {
            let hive_path: Vec<String> = table
                .partition_keys
                .iter()
                .zip(&partition.values)
                .map(|(k, v)| format!("{}={v}", k.name))
                .collect();
            let target = dir.join(hive_path.join("/"));
            std::fs::create_dir_all(&target).expect("create export folder");
            for (path, bytes) in self.location_files(&partition.location).await {
                let name = path.filename().unwrap_or("part.parquet");
                std::fs::write(target.join(name), bytes).expect("write an exported file");
            }
        }
    }

    /// Every object under a catalog location (`s3://<lake bucket>/…/`) with its bytes.
    pub async fn location_files(&self, location: &str) -> Vec<(Path, bytes::Bytes)> {
        let store = self.lake_store();
        let folder = location
            .strip_prefix(&format!("s3://{}/", self.config.lake_bucket))
            .expect("location in the lake bucket")
            .trim_end_matches('/');
        let objects: Vec<_> = store
            .list(Some(&Path::from(folder)))
            .try_collect()
            .await
            .expect("list a location");
        let mut files = Vec::new();
        for object in objects {
            let bytes = store
                .get(&object.location)
                .await
                .expect("get a file")
                .bytes()
                .await
                .expect("read a file");
            files.push((object.location, bytes));
        }
        files
    }

    /// The table registry.
    pub fn registry(&self) -> DynamoDbTableRegistry {
        DynamoDbTableRegistry::new(self.aws.dynamodb(), &self.config.config_table)
    }

    /// The processing tracker.
    pub fn processing(&self) -> DynamoDbProcessingTracker {
        DynamoDbProcessingTracker::new(self.aws.dynamodb(), &self.config.processing_table)
    }

    /// The refresh history of `table_id`, oldest first.
    pub async fn history(&self, table_id: &str) -> Vec<RefreshRecord> {
        self.processing()
            .history(table_id)
            .await
            .expect("read the history")
    }

    /// The lease state of `table_id` (it exists once the table was leased).
    pub async fn table_state(&self, table_id: &str) -> Option<TableState> {
        self.processing()
            .table_state(table_id)
            .await
            .expect("read the table state")
    }

    /// Every item of the file tracker.
    pub async fn tracker_items(&self) -> Vec<Item> {
        self.aws
            .tracker_items(&self.config.file_tracker_table)
            .await
    }

    /// The file tracker's pending items of `table_id`, in table order.
    pub async fn pending_items(&self, table_id: &str) -> Vec<Item> {
        self.aws
            .pending_items(&self.config.file_tracker_table, table_id)
            .await
    }

    /// The Glue catalog.
    pub fn catalog(&self) -> GlueCatalog {
        GlueCatalog::new(aws::glue_client(&self.aws.sdk))
    }

    /// The lake bucket through object_store.
    pub fn lake_store(&self) -> Arc<dyn ObjectStore> {
        s3_object_store(&self.aws.sdk, &self.config.lake_bucket).expect("lake store")
    }

    /// The staging bucket through object_store.
    pub fn staging_store(&self) -> Arc<dyn ObjectStore> {
        s3_object_store(&self.aws.sdk, &self.config.staging_bucket).expect("staging store")
    }

    /// The Glue table `name` of the pipeline's database.
    pub async fn glue_table(&self, name: &str) -> Option<TableDefinition> {
        self.catalog()
            .table(&self.database, name)
            .await
            .expect("read the Glue table")
    }

    /// Every row of the Glue table `name`, read the way a query engine reads it: the table's (or
    /// each partition's) location from Glue, every Parquet file under it, partition values from
    /// Glue, columns a file lacks as null. Rows are `column=value` lists sorted by column name; the
    /// list is sorted.
    pub async fn lake_rows(&self, name: &str) -> Vec<String> {
        let Some(table) = self.glue_table(name).await else {
            return Vec::new();
        };
        let locations: Vec<(String, Vec<(String, String)>)> = if table.partition_keys.is_empty() {
            vec![(table.location.clone(), Vec::new())]
        } else {
            self.catalog()
                .partitions(&table)
                .await
                .expect("read the Glue partitions")
                .into_iter()
                .map(|p| {
                    let values = table
                        .partition_keys
                        .iter()
                        .map(|k| k.name.clone())
                        .zip(p.values)
                        .collect();
                    (p.location, values)
                })
                .collect()
        };
        let mut rows = Vec::new();
        for (location, partition) in locations {
            for (_, bytes) in self.location_files(&location).await {
                let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(bytes)
                    .expect("a Parquet file")
                    .build()
                    .expect("a reader")
                    .collect::<Result<_, _>>()
                    .expect("decode a Parquet file");
                for batch in batches {
                    let options = FormatOptions::default().with_null("NULL");
                    let formatters: Vec<_> = batch
                        .columns()
                        .iter()
                        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("format"))
                        .collect();
                    let schema = batch.schema();
                    for row in 0..batch.num_rows() {
                        // Columns a file predates read as null, as query engines read them.
                        let mut cells: BTreeMap<String, String> = table
                            .columns
                            .iter()
                            .map(|c| (c.name.clone(), "NULL".to_owned()))
                            .chain(partition.iter().cloned())
                            .collect();
                        for (field, formatter) in schema.fields().iter().zip(&formatters) {
                            cells.insert(field.name().clone(), formatter.value(row).to_string());
                        }
                        rows.push(
                            cells
                                .iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(","),
                        );
                    }
                }
            }
        }
        rows.sort();
        rows
    }
}
