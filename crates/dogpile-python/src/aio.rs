//! Rust futures as asyncio awaitables, and Python callables run on the caller's event loop.
//!
//! A region call made on an event loop's thread spawns its Rust future on the shared runtime
//! and returns an asyncio future of that loop, which the Rust future completes through
//! `loop.call_soon_threadsafe` (no thread per call). Cancelling the asyncio future aborts the
//! Rust one, whose guards then free what it held (the key's lock). A creator is called on the
//! caller's loop, in the caller's `contextvars` context, and awaited there when it returns an
//! awaitable; the Rust side waits for its outcome on a channel, and cancels its task when it
//! stops waiting (the caller was cancelled, or the creator timed out).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};
use tokio::sync::oneshot;

use crate::runtime;

/// The package's Python half of the bridge (`dogpile_rs._bridge`).
struct Helpers {
    resolve: Py<PyAny>,
    creation: Py<PyAny>,
}

fn helpers(py: Python<'_>) -> PyResult<&'static Helpers> {
    static HELPERS: PyOnceLock<Helpers> = PyOnceLock::new();
    HELPERS.get_or_try_init(py, || {
        let bridge = py.import("dogpile_rs._bridge")?;
        Ok(Helpers { resolve: bridge.getattr("resolve")?.unbind(), creation: bridge.getattr("Creation")?.unbind() })
    })
}

/// The event loop a call was made on, and the `contextvars` context it was made in.
#[derive(Clone)]
pub(crate) struct Caller {
    event_loop: Arc<Py<PyAny>>,
    context: Arc<Py<PyAny>>,
}

impl Caller {
    /// The running loop of this thread and a copy of the current context; a `RuntimeError`
    /// outside a running loop, as asyncio raises.
    pub(crate) fn current(py: Python<'_>) -> PyResult<Self> {
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        let context = py.import("contextvars")?.call_method0("copy_context")?;
        Ok(Caller { event_loop: Arc::new(event_loop.unbind()), context: Arc::new(context.unbind()) })
    }

    /// An asyncio future of the caller's loop that `work`'s output, made a Python object by
    /// `finish` (with the GIL, on the runtime's thread), completes.
    pub(crate) fn spawn<'py, T, Fut, Finish>(
        &self,
        py: Python<'py>,
        work: Fut,
        finish: Finish,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        T: Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        Finish: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    {
        let future = self.event_loop.bind(py).call_method0("create_future")?;
        // Polled once here first: what is done at once (an L1 hit, the memory backend) never
        // leaves this thread.
        let mut work = Box::pin(work);
        let first = {
            let _inside = runtime::enter()?;
            work.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        };
        if let Poll::Ready(output) = first {
            match finish(py, output) {
                Ok(value) => future.call_method1("set_result", (value,))?,
                Err(err) => future.call_method1("set_exception", (err.into_value(py),))?,
            };
            return Ok(future);
        }
        let target = future.clone().unbind();
        let event_loop = Arc::clone(&self.event_loop);
        let handle = runtime::spawn(async move {
            let output = work.await;
            Python::attach(|py| {
                let (ok, value) = match finish(py, output) {
                    Ok(value) => (true, value),
                    Err(err) => (false, err.into_value(py).into_any()),
                };
                // A loop closed with calls in flight: nobody awaits the result any more.
                if let Ok(helpers) = helpers(py) {
                    let resolve = helpers.resolve.bind(py);
                    let _ = event_loop.bind(py).call_method1("call_soon_threadsafe", (resolve, target, ok, value));
                }
            });
        })?;
        future.call_method1("add_done_callback", (Abort { handle: handle.abort_handle() },))?;
        Ok(future)
    }

    /// Calls `callable(*args, **kwargs)` on the caller's loop, in the caller's context, awaits
    /// what it returns if that is awaitable, and gives the outcome as `take` makes it (on the
    /// loop's thread). Dropping the returned future cancels the call's task.
    pub(crate) async fn run<T, Take>(
        &self,
        callable: Arc<Py<PyAny>>,
        args: Arc<Py<PyTuple>>,
        kwargs: Option<Arc<Py<PyDict>>>,
        take: Take,
    ) -> PyResult<T>
    where
        T: Send + 'static,
        Take: FnOnce(Python<'_>, Bound<'_, PyAny>) -> PyResult<T> + Send + 'static,
    {
        let (sender, outcome) = oneshot::channel::<PyResult<T>>();
        let deliver: Deliver = Box::new(move |py, result| {
            let _ = sender.send(result.and_then(|value| take(py, value)));
        });
        let creation = Python::attach(|py| -> PyResult<Py<PyAny>> {
            let done = Done { deliver: Mutex::new(Some(deliver)) };
            let kwargs = kwargs.as_ref().map(|k| k.bind(py).clone());
            let creation = helpers(py)?.creation.bind(py).call1((
                self.event_loop.bind(py),
                self.context.bind(py),
                callable.bind(py),
                args.bind(py),
                kwargs,
                done,
            ))?;
            Ok(creation.unbind())
        })?;
        let mut guard = CancelOnDrop(Some(creation));
        let result = outcome.await;
        guard.0 = None;
        result.unwrap_or_else(|_| Err(PyRuntimeError::new_err("the event loop dropped the call")))
    }
}

type Deliver = Box<dyn FnOnce(Python<'_>, PyResult<Bound<'_, PyAny>>) + Send>;

/// The done-callback of a creator's call: `done(ok, value)`.
#[pyclass(frozen)]
struct Done {
    deliver: Mutex<Option<Deliver>>,
}

#[pymethods]
impl Done {
    fn __call__(&self, py: Python<'_>, ok: bool, value: Bound<'_, PyAny>) {
        let deliver = self.deliver.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(deliver) = deliver {
            deliver(py, if ok { Ok(value) } else { Err(PyErr::from_value(value)) });
        }
    }
}

/// The done-callback of a call's asyncio future: a cancelled future aborts the Rust work.
#[pyclass(frozen)]
struct Abort {
    handle: tokio::task::AbortHandle,
}

#[pymethods]
impl Abort {
    fn __call__(&self, future: Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.handle.abort();
        }
        Ok(())
    }
}

/// Cancels a creator's task when the Rust side stops waiting for it.
struct CancelOnDrop(Option<Py<PyAny>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(creation) = self.0.take() {
            Python::attach(|py| {
                let _ = creation.bind(py).call_method0("cancel");
            });
        }
    }
}
