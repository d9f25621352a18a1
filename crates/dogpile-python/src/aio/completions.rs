//! What the runtime's workers finished, handed to an event loop's thread in batches.
//!
//! A worker never takes the GIL to complete a call: it queues the completion and, when the
//! queue was empty, writes one byte to a socket the loop watches (`loop.add_reader`). The loop
//! then drains the whole queue in one callback, making the Python objects there, on the thread
//! that holds the GIL anyway. Under load one wake-up completes many calls, and the loop's
//! thread never waits for a worker to hand the GIL back.

use std::io::{ErrorKind, Read, Write};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;

/// Work to run on the loop's thread.
pub(crate) type Completion = Box<dyn FnOnce(Python<'_>) + Send>;

#[cfg(unix)]
type Stream = std::os::unix::net::UnixStream;
#[cfg(not(unix))]
type Stream = std::net::TcpStream;

/// A connected pair of non-blocking sockets: the workers write to the first, the loop reads
/// the second.
#[cfg(unix)]
fn pair() -> std::io::Result<(Stream, Stream)> {
    Stream::pair()
}

#[cfg(not(unix))]
fn pair() -> std::io::Result<(Stream, Stream)> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let writer = Stream::connect(listener.local_addr()?)?;
    let (reader, _) = listener.accept()?;
    writer.set_nodelay(true)?;
    Ok((writer, reader))
}

#[cfg(unix)]
fn descriptor(stream: &Stream) -> i64 {
    use std::os::fd::AsRawFd;
    i64::from(stream.as_raw_fd())
}

#[cfg(not(unix))]
fn descriptor(stream: &Stream) -> i64 {
    use std::os::windows::io::AsRawSocket;
    stream.as_raw_socket() as i64
}

/// The completion queue of one event loop.
pub(crate) struct Completions {
    queue: Mutex<Vec<Completion>>,
    writer: Stream,
    reader: Stream,
}

impl Completions {
    /// A queue whose wake-ups `event_loop` watches.
    pub(crate) fn watch(event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<Self>> {
        let (writer, reader) = pair()?;
        writer.set_nonblocking(true)?;
        reader.set_nonblocking(true)?;
        let completions = Arc::new(Completions { queue: Mutex::new(Vec::new()), writer, reader });
        let drain = Drain { completions: Arc::clone(&completions) };
        event_loop.call_method1("add_reader", (descriptor(&completions.reader), drain))?;
        Ok(completions)
    }

    /// Queues `completion` for the loop's thread; from any thread, without the GIL.
    pub(crate) fn push(&self, completion: Completion) {
        let was_empty = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.push(completion);
            queue.len() == 1
        };
        if was_empty {
            // A full socket already holds a wake-up; a closed loop reads no more.
            let _ = (&self.writer).write(&[1]);
        }
    }

    /// Runs every queued completion. The wake-ups are read before the queue is taken, so a
    /// completion queued meanwhile either is taken now or has written a wake-up of its own.
    fn drain(&self, py: Python<'_>) {
        let mut bytes = [0u8; 256];
        loop {
            match (&self.reader).read(&mut bytes) {
                Ok(n) if n == bytes.len() => continue,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
        let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
        for completion in batch {
            completion(py);
        }
    }
}

/// The loop's reader callback.
#[pyclass(frozen)]
struct Drain {
    completions: Arc<Completions>,
}

#[pymethods]
impl Drain {
    fn __call__(&self, py: Python<'_>) {
        self.completions.drain(py);
    }
}
