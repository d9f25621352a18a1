//! Rust futures as asyncio awaitables, and Python callables run on the caller's event loop.
//!
//! A region call made on an event loop's thread spawns its Rust future on the shared runtime
//! and returns an asyncio future of that loop, which the Rust future completes through the
//! loop's completion queue (`completions`): no thread per call, and no GIL taken by the
//! runtime's workers. Cancelling the asyncio future aborts the Rust one, whose guards then free
//! what it held (the key's lock). A creator is called on the caller's loop, in the caller's
//! `contextvars` context, and awaited there when it returns an awaitable; the Rust side waits
//! for its outcome on a channel, and cancels its task when it stops waiting (the caller was
//! cancelled, or the creator timed out).

mod completions;

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};
use tokio::sync::oneshot;

use crate::runtime;
use completions::Completions;

/// What the package takes from Python once: `asyncio.get_running_loop`,
/// `contextvars.copy_context` and its bridge's `Creation` (`dogpile_rs._bridge`).
struct Helpers {
    running_loop: Py<PyAny>,
    copy_context: Py<PyAny>,
    creation: Py<PyAny>,
}

fn helpers(py: Python<'_>) -> PyResult<&'static Helpers> {
    static HELPERS: PyOnceLock<Helpers> = PyOnceLock::new();
    HELPERS.get_or_try_init(py, || {
        Ok(Helpers {
            running_loop: py.import("asyncio")?.getattr("get_running_loop")?.unbind(),
            copy_context: py.import("contextvars")?.getattr("copy_context")?.unbind(),
            creation: py.import("dogpile_rs._bridge")?.getattr("Creation")?.unbind(),
        })
    })
}

thread_local! {
    /// The loop last called from on this thread, and its completion queue.
    static WATCHED: RefCell<Option<(Py<PyAny>, Arc<Completions>)>> = const { RefCell::new(None) };
}

/// The completion queue of `event_loop`, watched by it from its first call on.
fn completions_of(event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<Completions>> {
    WATCHED.with(|watched| {
        let mut watched = watched.borrow_mut();
        if let Some((watched_loop, completions)) = watched.as_ref()
            && watched_loop.is(event_loop)
        {
            return Ok(Arc::clone(completions));
        }
        let completions = Completions::watch(event_loop)?;
        *watched = Some((event_loop.clone().unbind(), Arc::clone(&completions)));
        Ok(completions)
    })
}

/// The event loop a call was made on, its completion queue, and (for a call that runs Python
/// code) the `contextvars` context it was made in.
#[derive(Clone)]
pub(crate) struct Caller {
    event_loop: Arc<Py<PyAny>>,
    completions: Arc<Completions>,
    context: Option<Arc<Py<PyAny>>>,
}

impl Caller {
    /// The running loop of this thread; a `RuntimeError` outside a running loop, as asyncio
    /// raises.
    pub(crate) fn current(py: Python<'_>) -> PyResult<Self> {
        let event_loop = helpers(py)?.running_loop.bind(py).call0()?;
        let completions = completions_of(&event_loop)?;
        Ok(Caller { event_loop: Arc::new(event_loop.unbind()), completions, context: None })
    }

    /// [`Caller::current`] with a copy of the current context, for calls that run a creator.
    pub(crate) fn with_context(py: Python<'_>) -> PyResult<Self> {
        let context = helpers(py)?.copy_context.bind(py).call0()?;
        Ok(Caller { context: Some(Arc::new(context.unbind())), ..Caller::current(py)? })
    }

    /// An asyncio future of the caller's loop that `work`'s output, made a Python object by
    /// `finish` (on the loop's thread), completes.
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
            complete(&future, finish(py, output))?;
            return Ok(future);
        }
        let target = future.clone().unbind();
        let completions = Arc::clone(&self.completions);
        let handle = runtime::spawn(async move {
            let output = work.await;
            completions.push(Box::new(move |py| {
                // A future cancelled meanwhile takes no result.
                let _ = complete(target.bind(py), finish(py, output));
            }));
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
                self.context.as_ref().map(|context| context.bind(py)),
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

/// Completes `future` with `result`, unless it is done already (cancelled by its caller).
fn complete(future: &Bound<'_, PyAny>, result: PyResult<Py<PyAny>>) -> PyResult<()> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    match result {
        Ok(value) => future.call_method1("set_result", (value,))?,
        Err(err) => future.call_method1("set_exception", (err.into_value(future.py()),))?,
    };
    Ok(())
}
