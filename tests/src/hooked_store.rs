//! A bucket that runs a test's hooks around its calls to the real bucket: the one
//! [`ObjectStore`] wrapper the tests need to make calls fail, wait, hang or be recorded.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// The kind of a bucket call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `put_opts`.
    Put,
    /// `put_multipart_opts`.
    PutMultipart,
    /// `get_opts`.
    Get,
    /// `copy_opts`.
    Copy,
    /// `delete_stream`.
    Delete,
    /// `list`.
    List,
    /// `list_with_delimiter`.
    ListWithDelimiter,
}

/// A bucket call as the hooks see it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// What it does.
    pub operation: Operation,
    /// The key it writes or reads (the destination of a copy), or the prefix of a listing; none
    /// for deletes.
    pub location: Option<&'a Path>,
}

impl Call<'_> {
    /// The location as text (empty when the call has none).
    pub fn key(&self) -> &str {
        self.location.map_or("", |location| location.as_ref())
    }
}

/// How the bucket answered a call, as [`StoreHooks::after`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    /// The number [`StoreHooks::before`] gave the call.
    pub ticket: u32,
    /// The bucket's error, when the call failed.
    pub error: Option<&'a object_store::Error>,
}

/// What a test does around a bucket's calls; by default, nothing.
pub trait StoreHooks: fmt::Debug + Send + Sync + 'static {
    /// Runs before `call` reaches the bucket: it may wait, hang, or fail the call without
    /// making it. The number it returns is handed to [`StoreHooks::after`].
    fn before<'a>(&'a self, call: Call<'a>) -> BoxFuture<'a, object_store::Result<u32>> {
        let _ = call;
        Box::pin(async { Ok(0) })
    }

    /// Runs once the bucket answered `call` (successfully or not): it may look at the answer,
    /// or fail the call instead (a successful call's response is then lost).
    fn after(&self, call: Call<'_>, answered: Answered<'_>) -> object_store::Result<()> {
        let _ = (call, answered);
        Ok(())
    }

    /// Whether a streamed call (`Delete`, `List`) may start; an error becomes the stream's only
    /// item.
    fn admit(&self, call: Call<'_>) -> object_store::Result<()> {
        let _ = call;
        Ok(())
    }
}

/// `inner` with `hooks` around each call.
#[derive(Debug)]
pub struct HookedStore<H> {
    inner: Arc<dyn ObjectStore>,
    hooks: H,
}

impl<H: StoreHooks> HookedStore<H> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>, hooks: H) -> HookedStore<H> {
        HookedStore { inner, hooks }
    }

    /// The hooks, to look at what they saw.
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    /// `answer` (the bucket's answer to `call`) between the hooks.
    async fn hooked<T>(
        &self,
        operation: Operation,
        location: Option<&Path>,
        answer: impl Future<Output = object_store::Result<T>>,
    ) -> object_store::Result<T> {
        let call = Call {
            operation,
            location,
        };
        let ticket = self.hooks.before(call).await?;
        let result = answer.await;
        let error = result.as_ref().err();
        self.hooks.after(call, Answered { ticket, error })?;
        result
    }

    fn admitted<T: Send + 'static>(
        &self,
        operation: Operation,
        location: Option<&Path>,
        stream: impl FnOnce() -> BoxStream<'static, object_store::Result<T>>,
    ) -> BoxStream<'static, object_store::Result<T>> {
        let call = Call {
            operation,
            location,
        };
        match self.hooks.admit(call) {
            Ok(()) => stream(),
            Err(error) => Box::pin(futures::stream::once(async move { Err(error) })),
        }
    }
}

impl<H> fmt::Display for HookedStore<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HookedStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl<H: StoreHooks> ObjectStore for HookedStore<H> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let answer = self.inner.put_opts(location, payload, opts);
        self.hooked(Operation::Put, Some(location), answer).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let answer = self.inner.put_multipart_opts(location, opts);
        self.hooked(Operation::PutMultipart, Some(location), answer)
            .await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let answer = self.inner.get_opts(location, options);
        self.hooked(Operation::Get, Some(location), answer).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.admitted(Operation::Delete, None, || {
            self.inner.delete_stream(locations)
        })
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.admitted(Operation::List, prefix, || self.inner.list(prefix))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let answer = self.inner.list_with_delimiter(prefix);
        self.hooked(Operation::ListWithDelimiter, prefix, answer)
            .await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let answer = self.inner.copy_opts(from, to, options);
        self.hooked(Operation::Copy, Some(to), answer).await
    }
}
