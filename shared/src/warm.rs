//! Connections opened ahead: while a fresh instance waits for its first event, it connects to
//! the AWS endpoints its first release will call (TCP and TLS), so that those round trips are
//! not on the release's path. [`Warm`] is the connector under berth's one HTTPS client: asked
//! for a connection to a host it has one ahead for, it hands that over (waiting for it if it
//! is still being made) instead of opening another.
//!
//! An endpoint guessed wrong costs one unused connection, nothing else. A connection opened
//! ahead and not taken within [`FRESH_FOR`] is dropped rather than handed over: the other end
//! may have closed it by then.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::Uri;
use tokio::sync::oneshot;
use tower_service::Service;

use crate::error::BoxError;

/// How long a connection opened ahead is handed over.
pub const FRESH_FOR: Duration = Duration::from_secs(10);

type Ahead<T> = (Instant, oneshot::Receiver<Result<T, BoxError>>);

/// Destination → connections opened ahead for it, oldest first.
type Opened<T> = Arc<Mutex<HashMap<String, Vec<Ahead<T>>>>>;

/// A connector that hands over connections opened ahead by [`Warm::open`].
pub struct Warm<C: Service<Uri>> {
    inner: C,
    ahead: Opened<C::Response>,
}

impl<C: Service<Uri> + Clone> Clone for Warm<C> {
    fn clone(&self) -> Self {
        Warm {
            inner: self.inner.clone(),
            ahead: self.ahead.clone(),
        }
    }
}

/// Where a connection goes: scheme, host and port, as hyper's pool tells connections apart.
fn destination(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let default = if scheme == "https" { 443 } else { 80 };
    let port = uri.port_u16().unwrap_or(default);
    format!("{scheme}://{}:{port}", uri.host().unwrap_or(""))
}

impl<C> Warm<C>
where
    C: Service<Uri> + Clone + Send + 'static,
    C::Response: Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    pub fn new(inner: C) -> Self {
        Warm {
            inner,
            ahead: Arc::default(),
        }
    }

    /// Opens a connection to `uri`'s host for a later request. The returned future makes it;
    /// it is registered at once, so a request sent meanwhile waits for it.
    pub fn open(&self, uri: Uri) -> impl Future<Output = ()> + Send + 'static {
        let (sender, receiver) = oneshot::channel();
        if let Ok(mut ahead) = self.ahead.lock() {
            let queue = ahead.entry(destination(&uri)).or_default();
            queue.push((Instant::now(), receiver));
        }
        let mut inner = self.inner.clone();
        async move {
            let made = inner.call(uri).await.map_err(Into::into);
            let _ = sender.send(made);
        }
    }

    /// The oldest fresh connection opened ahead for `uri`'s host, if any.
    fn take(&self, uri: &Uri) -> Option<oneshot::Receiver<Result<C::Response, BoxError>>> {
        let mut ahead = self.ahead.lock().ok()?;
        let queue = ahead.get_mut(&destination(uri))?;
        queue.retain(|(opened, _)| opened.elapsed() < FRESH_FOR);
        if queue.is_empty() {
            return None;
        }
        Some(queue.remove(0).1)
    }
}

impl<C> Service<Uri> for Warm<C>
where
    C: Service<Uri> + Clone + Send + 'static,
    C::Response: Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let ahead = self.take(&uri);
        let mut inner = self.inner.clone();
        Box::pin(async move {
            if let Some(ahead) = ahead
                && let Ok(Ok(connection)) = ahead.await
            {
                return Ok(connection);
            }
            inner.call(uri).await.map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests;
