//! I/O on the calling thread: each Python thread that calls a backend gets a twin of it, built
//! in a single-threaded runtime that the calling thread itself drives while it waits, with the
//! GIL released. The request is written, the reply read and the result handed back on that one
//! thread: no hand-over to the shared runtime's worker threads and back, which costs more than
//! a round trip to a local Redis.
//!
//! What must run between calls stays on the shared runtime and its backend: the L1's key
//! tracking (a backend with an L1 does all its I/O there) and the distributed lock, whose
//! holder keeps extending it while the creator runs in Python.
//!
//! A twin lives until its thread ends or its backend is dropped (noticed at the thread's next
//! call). A forked child never touches its parent's twins, whose connections and I/O driver
//! are shared with the parent: the package calls [`forget_after_fork`] in the child
//! (`os.register_at_fork`), on the one thread a child has, the one that forked.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use dogpile::backend::DynBackend;
use dogpile::config::Arguments;
use tokio::runtime::Runtime;

/// What a backend needs to make its twins.
pub(crate) struct Twins {
    id: u64,
    /// The registry name and arguments the twins are built from.
    name: &'static str,
    arguments: Arguments,
    /// Alive while the backend is: a thread drops the twins of a dead one.
    alive: Arc<()>,
}

/// One thread's twin of one backend.
struct Twin {
    alive: Weak<()>,
    runtime: Runtime,
    backend: Arc<dyn DynBackend>,
}

thread_local! {
    static TWINS: RefCell<HashMap<u64, Twin>> = RefCell::new(HashMap::new());
}

impl Twins {
    pub(crate) fn new(name: &'static str, arguments: Arguments) -> Self {
        static IDS: AtomicU64 = AtomicU64::new(0);
        // The thread waits for each call anyway: one server's commands block it, over a
        // connection of the twin's own, instead of going through a driver task.
        let arguments = arguments.with("blocking_io", true);
        Twins { id: IDS.fetch_add(1, Ordering::Relaxed), name, arguments, alive: Arc::new(()) }
    }

    /// Runs `io` on this thread's twin, driving its runtime on this thread until it is done.
    pub(crate) fn run<T, F, Fut>(&self, io: F) -> dogpile::Result<T>
    where
        F: FnOnce(Arc<dyn DynBackend>) -> Fut,
        Fut: Future<Output = dogpile::Result<T>>,
    {
        // A thread that calls while its thread-locals are being torn down gets an error,
        // never a panic.
        let run = TWINS.try_with(|twins| {
            let mut twins = twins.borrow_mut();
            if twins.values().any(|twin| twin.alive.strong_count() == 0) {
                twins.retain(|_, twin| twin.alive.strong_count() > 0);
            }
            let twin = match twins.get(&self.id) {
                Some(twin) => twin,
                None => {
                    let twin = self.build()?;
                    twins.entry(self.id).or_insert(twin)
                }
            };
            let backend = Arc::clone(&twin.backend);
            twin.runtime.block_on(io(backend))
        });
        run.unwrap_or_else(|_| Err(dogpile::Error::config("io", "this thread is ending: it cannot do I/O any more")))
    }

    fn build(&self) -> dogpile::Result<Twin> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| dogpile::Error::config("runtime", format!("cannot start this thread's I/O runtime: {e}")))?;
        let backend = {
            let _inside = runtime.enter();
            dogpile::registry::make_backend(self.name, &self.arguments)?
        };
        Ok(Twin { alive: Arc::downgrade(&self.alive), runtime, backend })
    }
}

/// In a forked child: leaves this thread's twins, the parent's, alone for good (never used,
/// never closed: closing would take their sockets out of the I/O driver the parent shares).
pub(crate) fn forget_after_fork() {
    if let Ok(twins) = TWINS.try_with(|twins| std::mem::take(&mut *twins.borrow_mut())) {
        std::mem::forget(twins);
    }
}
