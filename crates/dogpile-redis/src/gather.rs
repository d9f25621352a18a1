//! Read coalescing. A single-key read that arrives while another read is out on its lane (the
//! connection to one server, or to one node of a cluster) waits, and the reads that waited go
//! out together as one multi-key read when the one out returns. Callers of one key in a batch
//! share its read. A lane may be given more than one read out at once: a read then waits only
//! while that many are out.
//!
//! - A read never joins one already sent: a caller that wrote a key and then reads it gets its
//!   write or a newer value, never what a read sent before its write found.
//! - No timer: a read on an idle lane goes out at once, alone.
//! - The batch is sent by one of its callers, the leader, not by a task of its own, so it
//!   runs on whatever runtime the callers do. A leader whose future is dropped passes the
//!   turn on to the next waiting caller; the callers of the batch it was sending ask again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use dogpile::{BackendErrorKind, Bytes, CacheKey, Error, Result};
use tokio::sync::oneshot;

use crate::error::backend_error;

/// The most callers one batch answers; the others wait for the next.
const MOST: usize = 256;

/// One caller's part of a batch read: its value, or what failed its read.
pub(crate) type Fetched = std::result::Result<Option<Bytes>, Failure>;

/// Why a batch read failed some of its callers (or all of them): each caller gets it as an
/// error of the same kind, under its own key.
#[derive(Clone)]
pub(crate) enum Failure {
    /// A command's failure, or the whole round trip's.
    Redis(redis::RedisError),
    /// A failure before anything was sent (no connection), or a reply that made no sense.
    Backend { kind: BackendErrorKind, message: Arc<str> },
}

impl Failure {
    fn into_error(self, key: &CacheKey) -> Error {
        match self {
            Failure::Redis(err) => backend_error(err, Some(key)),
            Failure::Backend { kind, message } => Error::backend(kind, message.to_string()).with_key(key.clone()),
        }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        let kind = err.backend_kind().unwrap_or(BackendErrorKind::Other);
        Failure::Backend { kind, message: err.to_string().into() }
    }
}

/// What reads the keys of a batch: each key's outcome, in the order of the keys given.
pub(crate) trait ReadEach: Sync {
    fn read_each(&self, keys: &[&CacheKey]) -> impl Future<Output = std::result::Result<Vec<Fetched>, Failure>> + Send;
}

/// The lanes of one backend: each has at most `in_flight` coalesced reads out at a time.
pub(crate) struct Gather {
    lanes: Arc<[Mutex<Lane>]>,
    in_flight: usize,
    /// The backend's name, for what it counts.
    backend: &'static str,
}

#[derive(Default)]
struct Lane {
    /// The turns taken: reads out, and callers given the turn to send the next batch.
    out: usize,
    waiting: VecDeque<Waiter>,
}

/// A caller waiting on a busy lane.
struct Waiter {
    key: CacheKey,
    answer: oneshot::Sender<Answer>,
}

enum Answer {
    /// The batch it was in was read.
    Read(Fetched),
    /// Its turn: it sends the next batch, holding the turn until its read returns.
    Lead(Turn),
}

impl Gather {
    /// A gatherer with `lanes` lanes (one per server; a cluster's nodes are spread over them)
    /// of `in_flight` reads out at once each, for the backend named `backend`.
    pub(crate) fn new(lanes: usize, in_flight: usize, backend: &'static str) -> Self {
        let lanes = (0..lanes.max(1)).map(|_| Mutex::new(Lane::default())).collect();
        Gather { lanes, in_flight: in_flight.max(1), backend }
    }

    /// Reads `key` on lane `lane`: with `one` when the lane has a turn free, else in the next
    /// batch, which its leader reads from `many`.
    pub(crate) async fn get<F>(
        &self,
        key: &CacheKey,
        lane: usize,
        one: impl FnOnce() -> F,
        many: &impl ReadEach,
    ) -> Result<Option<Bytes>>
    where
        F: Future<Output = Result<Option<Bytes>>>,
    {
        let lane = lane % self.lanes.len();
        let mut one = Some(one);
        loop {
            let waiting = {
                let mut state = self.lock(lane);
                if state.out >= self.in_flight {
                    let (answer, waiting) = oneshot::channel();
                    state.waiting.push_back(Waiter { key: key.clone(), answer });
                    Some(waiting)
                } else {
                    state.out += 1;
                    None
                }
            };
            let turn = match waiting {
                None => Turn { lanes: Arc::clone(&self.lanes), lane, live: true },
                Some(waiting) => match waiting.await {
                    Ok(Answer::Read(fetched)) => return fetched.map_err(|failure| failure.into_error(key)),
                    Ok(Answer::Lead(turn)) => turn,
                    // The leader of its batch was dropped before it answered: ask again.
                    Err(_) => continue,
                },
            };
            let batch = turn.take_waiting();
            if batch.is_empty() {
                // Alone: the single-key read, given once (a caller asking again after its
                // leader was dropped reads in a batch of its own).
                if let Some(one) = one.take() {
                    return one().await;
                }
            }
            // Boxed: a batch's read is far larger than a lone one, and only one caller in a
            // batch leads it; the others' futures stay small.
            return Box::pin(lead(key, batch, many, turn, self.backend)).await;
        }
    }

    fn lock(&self, lane: usize) -> MutexGuard<'_, Lane> {
        lock(&self.lanes, lane)
    }
}

/// Lane `lane` of `lanes`, locked (a panic elsewhere leaves its state usable: every change
/// to it is whole).
fn lock(lanes: &[Mutex<Lane>], lane: usize) -> MutexGuard<'_, Lane> {
    lanes[lane].lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads `key` and the keys of `batch` with `many`, each key once, and answers the batch. The
/// turn passes on as soon as the read returns: the next batch goes out while this one's
/// callers are answered.
async fn lead(
    key: &CacheKey,
    batch: Vec<Waiter>,
    many: &impl ReadEach,
    turn: Turn,
    backend: &'static str,
) -> Result<Option<Bytes>> {
    // Each key once: the leader's first, then the others' in the order they came.
    let mut keys: Vec<&CacheKey> = Vec::with_capacity(batch.len() + 1);
    keys.push(key);
    let mut index: HashMap<&CacheKey, usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(batch.len() + 1, foldhash::fast::RandomState::default());
    index.insert(key, 0);
    let mut places = Vec::with_capacity(batch.len());
    for waiter in &batch {
        let at = *index.entry(&waiter.key).or_insert_with(|| {
            keys.push(&waiter.key);
            keys.len() - 1
        });
        places.push(at);
    }
    let fetched = match many.read_each(&keys).await {
        Ok(fetched) if fetched.len() == keys.len() => fetched,
        Ok(fetched) => {
            let message = format!("a read of {} keys gave {} values", keys.len(), fetched.len());
            vec![Err(Failure::Backend { kind: BackendErrorKind::Other, message: message.into() }); keys.len()]
        }
        Err(failure) => vec![Err(failure); keys.len()],
    };
    drop(turn);
    drop((index, keys));
    #[cfg(feature = "metrics")]
    {
        use dogpile::metrics::{BACKEND, COALESCED_BATCHES, COALESCED_READS};
        metrics::counter!(COALESCED_BATCHES, BACKEND => backend).increment(1);
        metrics::counter!(COALESCED_READS, BACKEND => backend).increment(places.len() as u64 + 1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = backend;
    answer(batch, &places, fetched).map_err(|failure| failure.into_error(key))
}

/// Answers each caller of `batch` with the value at its place in `fetched`, and gives the
/// leader's (the first). A value goes to its last caller, not a copy of it: a key read by
/// one caller alone (most keys, in a batch over many keys) is never shared.
fn answer(batch: Vec<Waiter>, places: &[usize], mut fetched: Vec<Fetched>) -> Fetched {
    let mut last = vec![usize::MAX; fetched.len()];
    for (n, &at) in places.iter().enumerate() {
        last[at] = n;
    }
    for (n, (&at, Waiter { answer, .. })) in places.iter().zip(batch).enumerate() {
        let value =
            if at != 0 && last[at] == n { std::mem::replace(&mut fetched[at], Ok(None)) } else { fetched[at].clone() };
        // A caller that stopped waiting has no use for its value.
        let _ = answer.send(Answer::Read(value));
    }
    fetched.into_iter().next().unwrap_or(Ok(None))
}

/// The right to read on a lane: while the lane's turns are all taken, its other reads wait;
/// dropped, a turn passes to the first caller still waiting, or is given back to the lane.
struct Turn {
    lanes: Arc<[Mutex<Lane>]>,
    lane: usize,
    /// False for a turn that was never taken (its leader had stopped waiting).
    live: bool,
}

impl Turn {
    fn lock(&self) -> MutexGuard<'_, Lane> {
        lock(&self.lanes, self.lane)
    }

    /// The callers waiting now that still wait (at most a batch's worth, less the leader).
    fn take_waiting(&self) -> Vec<Waiter> {
        let mut lane = self.lock();
        let mut batch = Vec::new();
        while batch.len() < MOST - 1
            && let Some(waiter) = lane.waiting.pop_front()
        {
            if !waiter.answer.is_closed() {
                batch.push(waiter);
            }
        }
        batch
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if !self.live {
            return;
        }
        loop {
            let next = {
                let mut lane = self.lock();
                loop {
                    match lane.waiting.pop_front() {
                        Some(waiter) if waiter.answer.is_closed() => continue,
                        Some(waiter) => break waiter,
                        None => {
                            lane.out -= 1;
                            return;
                        }
                    }
                }
            };
            let turn = Turn { lanes: Arc::clone(&self.lanes), lane: self.lane, live: true };
            match next.answer.send(Answer::Lead(turn)) {
                Ok(()) => return,
                // It stopped waiting in the meantime: the next one, without dropping the turn
                // it refused (which would pass the turn on from inside this drop).
                Err(Answer::Lead(mut refused)) => refused.live = false,
                Err(Answer::Read(_)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers each key with its own name, counting its batches and their sizes.
    #[derive(Default)]
    struct Echo {
        calls: AtomicUsize,
        sizes: Mutex<Vec<usize>>,
    }

    impl ReadEach for Echo {
        async fn read_each(&self, keys: &[&CacheKey]) -> std::result::Result<Vec<Fetched>, Failure> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.sizes.lock().unwrap().push(keys.len());
            tokio::task::yield_now().await;
            Ok(keys.iter().map(|k| Ok(Some(Bytes::from(k.to_string().into_bytes())))).collect())
        }
    }

    /// Fails every batch with a timeout.
    struct Failing;

    impl ReadEach for Failing {
        async fn read_each(&self, _: &[&CacheKey]) -> std::result::Result<Vec<Fetched>, Failure> {
            Err(Failure::Backend { kind: BackendErrorKind::Timeout, message: "no reply".into() })
        }
    }

    #[tokio::test]
    async fn a_lone_read_goes_out_alone_and_frees_the_lane() {
        let gather = Gather::new(1, 1, "test");
        let many = Echo::default();
        let key = CacheKey::from("a");
        let got = gather.get(&key, 0, || async { Ok(Some(Bytes::from_static(b"one"))) }, &many).await;
        assert_eq!(got.unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(many.calls.load(Ordering::SeqCst), 0);
        assert_eq!(gather.lock(0).out, 0);
    }

    /// Reads `keys` on a lane where a first read is out, then lets that one return: the
    /// results of `keys`.
    async fn queued_behind_one(gather: &Gather, many: &impl ReadEach, keys: &[CacheKey]) -> Vec<Result<Option<Bytes>>> {
        let (release, held) = oneshot::channel::<()>();
        let first = CacheKey::from("first");
        let held = async {
            held.await.ok();
            Ok(None)
        };
        let out = gather.get(&first, 0, || held, many);
        let queued =
            futures_util::future::join_all(keys.iter().map(|k| gather.get(k, 0, || async { unreachable!() }, many)));
        let release = async {
            tokio::task::yield_now().await;
            release.send(()).ok();
        };
        let (first_got, got, ()) = tokio::join!(out, queued, release);
        assert_eq!(first_got.unwrap(), None);
        got
    }

    #[tokio::test]
    async fn reads_queued_behind_one_out_go_as_one_batch_each_key_once() {
        let gather = Gather::new(1, 1, "test");
        let many = Echo::default();
        let keys: Vec<CacheKey> = (0..10).map(|n| CacheKey::from(format!("k{}", n % 4))).collect();
        let got = queued_behind_one(&gather, &many, &keys).await;
        for (key, got) in keys.iter().zip(got) {
            assert_eq!(got.unwrap().as_deref(), Some(key.to_string().as_bytes()));
        }
        assert_eq!(many.calls.load(Ordering::SeqCst), 1, "one batch");
        assert_eq!(*many.sizes.lock().unwrap(), vec![4], "each of the 4 keys once");
        assert_eq!(gather.lock(0).out, 0);
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_caller_with_its_kind_under_its_key() {
        let gather = Gather::new(1, 1, "test");
        let keys: Vec<CacheKey> = (0..3).map(|n| CacheKey::from(format!("k{n}"))).collect();
        let got = queued_behind_one(&gather, &Failing, &keys).await;
        for (key, got) in keys.iter().zip(got) {
            let err = got.unwrap_err();
            assert_eq!(err.backend_kind(), Some(BackendErrorKind::Timeout));
            assert_eq!(err.key(), Some(key));
        }
    }

    #[tokio::test]
    async fn a_dropped_read_passes_the_turn_to_the_next_caller() {
        let gather = Arc::new(Gather::new(1, 1, "test"));
        let many = Echo::default();
        // A read out that never returns until dropped.
        let first = CacheKey::from("first");
        let mut out = Box::pin(gather.get(&first, 0, std::future::pending, &many));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(out.as_mut().poll(&mut cx).is_pending());
        let key = CacheKey::from("k");
        let mut queued = Box::pin(gather.get(&key, 0, || async { Ok(Some(Bytes::from_static(b"alone"))) }, &many));
        assert!(queued.as_mut().poll(&mut cx).is_pending());
        drop(out);
        // Given the turn with nobody behind it, it reads alone.
        assert_eq!(queued.await.unwrap().as_deref(), Some(&b"alone"[..]));
        assert_eq!(many.calls.load(Ordering::SeqCst), 0);
        assert_eq!(gather.lock(0).out, 0, "the lane is idle again");
    }

    #[tokio::test]
    async fn with_two_reads_out_a_third_waits_and_the_reads_behind_it_go_as_one_batch() {
        let gather = Gather::new(1, 2, "test");
        let many = Echo::default();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        // Two reads out, neither returning until let go.
        let (release_a, held_a) = oneshot::channel::<()>();
        let (release_b, held_b) = oneshot::channel::<()>();
        let (a, b) = (CacheKey::from("a"), CacheKey::from("b"));
        let alone = |held: oneshot::Receiver<()>| {
            || async {
                held.await.ok();
                Ok(None)
            }
        };
        let mut out_a = Box::pin(gather.get(&a, 0, alone(held_a), &many));
        let mut out_b = Box::pin(gather.get(&b, 0, alone(held_b), &many));
        assert!(out_a.as_mut().poll(&mut cx).is_pending());
        assert!(out_b.as_mut().poll(&mut cx).is_pending(), "the second read goes out at once too");
        assert_eq!(gather.lock(0).out, 2);
        // The third and fourth wait for one of the two to return.
        let keys: Vec<CacheKey> = (0..2).map(|n| CacheKey::from(format!("k{n}"))).collect();
        let queued =
            futures_util::future::join_all(keys.iter().map(|k| gather.get(k, 0, || async { unreachable!() }, &many)));
        let mut queued = Box::pin(queued);
        assert!(queued.as_mut().poll(&mut cx).is_pending());
        assert_eq!(gather.lock(0).waiting.len(), 2, "both wait while two reads are out");
        release_a.send(()).ok();
        assert_eq!(out_a.await.unwrap(), None);
        for (key, got) in keys.iter().zip(queued.await) {
            assert_eq!(got.unwrap().as_deref(), Some(key.to_string().as_bytes()));
        }
        assert_eq!(*many.sizes.lock().unwrap(), vec![2], "the two waiting went as one batch");
        release_b.send(()).ok();
        assert_eq!(out_b.await.unwrap(), None);
        assert_eq!(gather.lock(0).out, 0, "every turn is given back");
    }

    /// Never answers.
    struct Hanging;

    impl ReadEach for Hanging {
        async fn read_each(&self, _: &[&CacheKey]) -> std::result::Result<Vec<Fetched>, Failure> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn the_callers_of_a_dropped_leaders_batch_read_again() {
        let gather = Gather::new(1, 1, "test");
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let (release, held) = oneshot::channel::<()>();
        let (first, leader_key, other) = (CacheKey::from("first"), CacheKey::from("l"), CacheKey::from("w"));
        let mut out = Box::pin(gather.get(
            &first,
            0,
            || async {
                held.await.ok();
                Ok(None)
            },
            &Hanging,
        ));
        assert!(out.as_mut().poll(&mut cx).is_pending());
        let mut leader = Box::pin(gather.get(&leader_key, 0, || async { unreachable!() }, &Hanging));
        let mut waiter = Box::pin(gather.get(&other, 0, || async { Ok(Some(Bytes::from_static(b"again"))) }, &Hanging));
        assert!(leader.as_mut().poll(&mut cx).is_pending());
        assert!(waiter.as_mut().poll(&mut cx).is_pending());
        release.send(()).ok();
        assert!(out.as_mut().poll(&mut cx).is_ready(), "the first read returns and passes the turn");
        assert!(leader.as_mut().poll(&mut cx).is_pending(), "the leader sends both keys, which never return");
        assert!(waiter.as_mut().poll(&mut cx).is_pending());
        drop(leader);
        assert_eq!(waiter.await.unwrap().as_deref(), Some(&b"again"[..]), "read alone, anew");
        assert_eq!(gather.lock(0).out, 0);
    }
}
