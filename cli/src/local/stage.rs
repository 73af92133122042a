//! `local stage`: upload DMS files to the staging bucket, so S3 notifications flow as in AWS.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt, stream};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use tributary_shared::adapters::s3_object_store::s3_object_store;

use crate::connection::Session;
use crate::output::Output;

/// Uploads in flight.
const UPLOAD_CONCURRENCY: usize = 8;

/// Arguments of `tributary local stage`.
#[derive(clap::Args)]
pub struct StageArgs {
    /// A directory of DMS files; each file's key is its path relative to the directory, e.g.
    /// `dms/sales/orders/LOAD00000001.csv`.
    dir: PathBuf,
}

/// What `stage` uploaded.
#[derive(Debug, serde::Serialize)]
struct Staged {
    bucket: String,
    files: usize,
    bytes: u64,
}

/// `tributary local stage`.
pub async fn stage(session: &Session, output: &Output, args: StageArgs) -> Result<ExitCode> {
    let state = session.local_state()?;
    let files = files_under(&args.dir)?;
    if files.is_empty() {
        bail!("{} holds no files to stage", args.dir.display());
    }
    let total: u64 = files.iter().map(|(_, _, size)| size).sum();
    let store = s3_object_store(&session.sdk, &state.staging_bucket)
        .context("cannot open the staging bucket")?;
    let progress = output.progress_bar(
        total,
        "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {elapsed}",
    );
    progress.set_message("uploading");
    stream::iter(&files)
        .map(|(path, key, size)| {
            let store = store.clone();
            let progress = progress.clone();
            async move {
                let body = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                store
                    .put(&ObjectPath::from(key.as_str()), body.into())
                    .await
                    .with_context(|| format!("cannot upload {key}"))?;
                progress.inc(*size);
                anyhow::Ok(())
            }
        })
        .buffer_unordered(UPLOAD_CONCURRENCY)
        .try_collect::<()>()
        .await?;
    progress.finish_and_clear();
    let staged = Staged {
        bucket: state.staging_bucket.clone(),
        files: files.len(),
        bytes: total,
    };
    output.emit(&staged, |s| {
        format!(
            "staged {} file(s), {} bytes, into s3://{}/\n",
            s.files, s.bytes, s.bucket
        )
    });
    Ok(ExitCode::SUCCESS)
}

/// Every file under `dir` as (path, key relative to `dir` with `/` separators, size), in key
/// order (DMS names sort in the order files were written).
fn files_under(dir: &Path) -> Result<Vec<(PathBuf, String, u64)>> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("cannot read directory {}", folder.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", folder.display()))?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                folders.push(path);
            } else if kind.is_file() {
                let relative = path.strip_prefix(dir).unwrap_or(&path);
                let key = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push((path.clone(), key, entry.metadata()?.len()));
            }
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(files)
}
