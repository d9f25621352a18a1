//! The algorithm for the keys of a multi-key read-through (dogpile's `get_or_create_multi`,
//! which runs every key through `Lock` and calls the creator once for the keys that need it),
//! with its locks and reads batched; see [the module](super) for the rules per key.
//!
//! Keys are positions in a batch of sorted, unique keys; locks are always taken in that
//! order, so two batches that share keys cannot wait for each other. Once one expired key's
//! mutex is held elsewhere, the expired keys after it are served stale too: the caller that
//! holds it is regenerating the same batch, so identical batches call the creator once.
//!
//! On a mutex that [batches](BatchMutex::batches) (a distributed lock, where each call is a
//! round trip), the keys to lock are first tried together in one call. A missing key held
//! elsewhere must be waited for, and waiting while holding the locks of later keys could wait
//! for a caller that waits for us: those locks are given back first, and the keys from there
//! on are locked one by one.

use std::future::Future;

use super::{Ages, Outcome, Read};
use crate::clock::Clock;
use crate::error::{Error, Result};

/// The mutexes of a batch's keys, by position.
pub(crate) trait BatchMutex: Sync {
    /// A held mutex; dropping it releases the mutex.
    type Guard: Send + 'static;
    /// Whether many mutexes are tried in one call ([`BatchMutex::try_acquire_batch`]); if not,
    /// the keys are locked one by one.
    fn batches(&self) -> bool;
    /// Tries the mutexes of the keys at `at` without waiting, in one call; `None` where held
    /// elsewhere. `missing` tells, for each, whether the key has no value: a mutex that the
    /// algorithm would not use (after a key held elsewhere, an expired key's, or any after a
    /// missing key's) may be left untried, `None`.
    fn try_acquire_batch(
        &self,
        at: &[usize],
        missing: &[bool],
    ) -> impl Future<Output = Result<Vec<Option<Self::Guard>>>> + Send;
    /// Takes the mutex of the key at `at` if free.
    fn try_acquire(&self, at: usize) -> impl Future<Output = Result<Option<Self::Guard>>> + Send;
    /// Waits for the mutex of the key at `at`.
    fn acquire(&self, at: usize) -> impl Future<Output = Result<Self::Guard>> + Send;
    /// Releases `guards` in one call, reporting a release failure.
    fn release(&self, guards: Vec<(usize, Self::Guard)>) -> impl Future<Output = Result<()>> + Send;
}

/// Fail-safe for one batch (its age limit is [`Ages::stand_in`]).
pub(crate) struct BatchFailSafe<'a> {
    /// Whether the key at a position failed to regenerate recently: its expired value is
    /// served without trying.
    pub(crate) throttled: &'a (dyn Fn(usize) -> bool + Sync),
    /// Takes the error that the expired values at the positions given stood in for.
    pub(crate) suppressed: &'a (dyn Fn(Error, &[usize]) + Sync),
}

/// One run of the algorithm for a batch of keys.
pub(crate) struct BatchLock<'a, M> {
    pub(crate) mutex: &'a M,
    pub(crate) ages: Ages,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) fail_safe: Option<BatchFailSafe<'a>>,
}

/// What a batch served at one position, with how; `None` only if a value vanished.
pub(crate) type Served<T> = Option<(Read<T>, Outcome)>;

/// The state of a run: each key's value and outcome so far, and the locks it holds.
struct State<T, G> {
    values: Vec<Option<Read<T>>>,
    outcomes: Vec<Option<Outcome>>,
    /// Keys whose mutex was waited for (held elsewhere, no value).
    waited: Vec<bool>,
    /// Keys locked by the batched attempt while expired values were being served stale: they
    /// are served stale too unless the read under the lock finds them fresh.
    stand_down: Vec<bool>,
    /// An expired key's mutex was held elsewhere: serve the later expired keys stale.
    defer_stale: bool,
    /// Locks held to create their keys.
    held: Vec<(usize, G)>,
    /// Locks held that turned out not to be needed, released with the others.
    spare: Vec<(usize, G)>,
}

impl<T, G> State<T, G> {
    fn serve(&mut self, at: usize, outcome: Outcome) {
        self.outcomes[at] = Some(outcome);
    }

    fn into_served(self) -> Vec<Served<T>> {
        self.values.into_iter().zip(self.outcomes).map(|(value, outcome)| value.zip(outcome)).collect()
    }
}

impl<M: BatchMutex> BatchLock<'_, M> {
    fn is_fresh(&self, read: Option<&Read<impl Sized>>) -> bool {
        read.is_some_and(|read| self.ages.is_fresh(read.ct, self.clock.now()))
    }

    fn may_stand_in(&self, read: Option<&Read<impl Sized>>) -> bool {
        read.is_some_and(|read| self.ages.may_stand_in(read.ct, self.clock.now()))
    }

    /// Runs the algorithm on `first`, what the caller read at each position. `read` reads
    /// the keys at the positions given again, under their locks; `create` makes the values of
    /// the keys at the positions given, in that order; `background`, if given, takes the locks
    /// of a batch whose every key has an expired value and regenerates it elsewhere.
    pub(crate) async fn enter_after<T, R, RF, C, CF, B>(
        &self,
        first: Vec<Option<Read<T>>>,
        read: R,
        create: C,
        background: Option<B>,
    ) -> Result<Vec<Served<T>>>
    where
        R: FnOnce(Vec<usize>) -> RF,
        RF: Future<Output = Result<Vec<Option<Read<T>>>>>,
        C: FnOnce(Vec<usize>) -> CF,
        CF: Future<Output = Result<Vec<Read<T>>>>,
        B: FnOnce(Vec<(usize, M::Guard)>),
    {
        let n = first.len();
        let mut state = State {
            values: first,
            outcomes: vec![None; n],
            waited: vec![false; n],
            stand_down: vec![false; n],
            defer_stale: false,
            held: Vec::new(),
            spare: Vec::new(),
        };
        let wanted = self.serve_at_once(&mut state);
        let rest = match self.mutex.batches() && !wanted.is_empty() {
            true => self.lock_together(&mut state, &wanted).await?,
            false => &wanted[..],
        };
        self.lock_one_by_one(&mut state, rest).await?;
        self.read_under_locks(&mut state, read).await?;
        self.create(state, create, background).await
    }

    /// Serves the fresh keys, and the expired ones fail-safe serves without trying; gives the
    /// positions left to lock, in order.
    fn serve_at_once<T, G>(&self, state: &mut State<T, G>) -> Vec<usize> {
        let throttled = |at| self.fail_safe.as_ref().is_some_and(|f| (f.throttled)(at));
        let mut wanted = Vec::new();
        for at in 0..state.values.len() {
            let value = state.values[at].as_ref();
            if self.is_fresh(value) {
                state.serve(at, Outcome::Fresh);
            } else if self.may_stand_in(value) && throttled(at) {
                state.serve(at, Outcome::FailSafe);
            } else {
                wanted.push(at);
            }
        }
        wanted
    }

    /// Tries the locks of `wanted` in one call. Expired keys held elsewhere are served stale;
    /// at the first missing key held elsewhere, the locks taken after it are given back and
    /// the keys from it on are left to lock one by one (returned).
    async fn lock_together<'w, T>(&self, state: &mut State<T, M::Guard>, wanted: &'w [usize]) -> Result<&'w [usize]> {
        let missing: Vec<bool> = wanted.iter().map(|&at| state.values[at].is_none()).collect();
        let attempts = self.mutex.try_acquire_batch(wanted, &missing).await?;
        let mut rest = &wanted[wanted.len()..];
        let mut give_back = Vec::new();
        for (n, (&at, attempt)) in wanted.iter().zip(attempts).enumerate() {
            match attempt {
                Some(guard) if !rest.is_empty() => give_back.push((at, guard)),
                Some(guard) => {
                    state.stand_down[at] = state.defer_stale;
                    state.held.push((at, guard));
                }
                None if !rest.is_empty() => {}
                None if state.values[at].is_some() => {
                    state.defer_stale = true;
                    state.serve(at, Outcome::Stale);
                }
                None => rest = &wanted[n..],
            }
        }
        self.mutex.release(give_back).await?;
        Ok(rest)
    }

    /// Locks the keys at `at` one by one: an expired key's lock if free (else it is served
    /// stale, and so are the expired keys after it); a missing key's lock, waiting for it.
    async fn lock_one_by_one<T>(&self, state: &mut State<T, M::Guard>, at: &[usize]) -> Result<()> {
        for &at in at {
            if state.values[at].is_some() {
                let guard = match state.defer_stale {
                    true => None,
                    false => self.mutex.try_acquire(at).await?,
                };
                match guard {
                    Some(guard) => state.held.push((at, guard)),
                    None => {
                        state.defer_stale = true;
                        state.serve(at, Outcome::Stale);
                    }
                }
                continue;
            }
            let guard = match self.mutex.try_acquire(at).await? {
                Some(guard) => guard,
                None => {
                    state.waited[at] = true;
                    self.mutex.acquire(at).await?
                }
            };
            state.held.push((at, guard));
        }
        Ok(())
    }

    /// Reads the locked keys again: whoever held a lock before us has most likely just stored
    /// the value (for a missing key), or may have regenerated it between our first read and
    /// our lock (for an expired one). Keys found fresh, and those standing down, no longer
    /// need their locks.
    async fn read_under_locks<T, R, RF>(&self, state: &mut State<T, M::Guard>, read: R) -> Result<()>
    where
        R: FnOnce(Vec<usize>) -> RF,
        RF: Future<Output = Result<Vec<Option<Read<T>>>>>,
    {
        if state.held.is_empty() {
            return Ok(());
        }
        let locked: Vec<usize> = state.held.iter().map(|(at, _)| *at).collect();
        let again = match read(locked).await {
            Ok(again) => again,
            Err(err) => {
                let held = std::mem::take(&mut state.held);
                let _ = self.mutex.release(held).await;
                return Err(err);
            }
        };
        let mut still = Vec::with_capacity(state.held.len());
        for ((at, guard), value) in std::mem::take(&mut state.held).into_iter().zip(again) {
            let fresh = self.is_fresh(value.as_ref());
            if value.is_some() {
                state.values[at] = value;
            }
            if fresh {
                state.serve(at, if state.waited[at] { Outcome::AfterWait } else { Outcome::Fresh });
                state.spare.push((at, guard));
            } else if state.stand_down[at] && state.values[at].is_some() {
                state.serve(at, Outcome::Stale);
                state.spare.push((at, guard));
            } else {
                still.push((at, guard));
            }
        }
        state.held = still;
        Ok(())
    }

    /// Creates the keys still locked, in the background if every one has a value to serve
    /// meanwhile, and releases every lock; under fail-safe, a failed creation whose every key
    /// has a young enough value serves those.
    async fn create<T, C, CF, B>(
        &self,
        mut state: State<T, M::Guard>,
        create: C,
        background: Option<B>,
    ) -> Result<Vec<Served<T>>>
    where
        C: FnOnce(Vec<usize>) -> CF,
        CF: Future<Output = Result<Vec<Read<T>>>>,
        B: FnOnce(Vec<(usize, M::Guard)>),
    {
        let spare = std::mem::take(&mut state.spare);
        if state.held.is_empty() {
            self.mutex.release(spare).await?;
            return Ok(state.into_served());
        }
        let positions: Vec<usize> = state.held.iter().map(|(at, _)| *at).collect();
        if let Some(background) = background.filter(|_| positions.iter().all(|&at| state.values[at].is_some())) {
            self.mutex.release(spare).await?;
            background(std::mem::take(&mut state.held));
            positions.iter().for_each(|&at| state.serve(at, Outcome::StaleBackground));
            return Ok(state.into_served());
        }
        let mut guards = std::mem::take(&mut state.held);
        guards.extend(spare);
        match create(positions.clone()).await {
            Ok(created) => {
                for (&at, read) in positions.iter().zip(created) {
                    let outcome = if state.waited[at] { Outcome::CreatedAfterWait } else { Outcome::Created };
                    state.values[at] = Some(read);
                    state.serve(at, outcome);
                }
                self.mutex.release(guards).await?;
                Ok(state.into_served())
            }
            Err(err) => {
                // Nothing is stored; the locks are given back before the caller hears of it.
                let _ = self.mutex.release(guards).await;
                let stand_in = positions.iter().all(|&at| self.may_stand_in(state.values[at].as_ref()));
                match &self.fail_safe {
                    Some(fail_safe) if stand_in => {
                        (fail_safe.suppressed)(err, &positions);
                        positions.iter().for_each(|&at| state.serve(at, Outcome::FailSafe));
                        Ok(state.into_served())
                    }
                    _ => Err(err),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use crate::lock::LockMutex;
    use crate::lock::testing::{FlagGuard, FlagMutex};
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// One flag per key name; a batch sees its keys by position.
    #[derive(Default)]
    struct Flags(Mutex<HashMap<&'static str, std::sync::Arc<FlagMutex>>>);

    impl Flags {
        fn of(&self, key: &'static str) -> std::sync::Arc<FlagMutex> {
            self.0.lock().unwrap().entry(key).or_default().clone()
        }
    }

    struct Mutexes {
        keys: Vec<std::sync::Arc<FlagMutex>>,
        batches: bool,
        batch_calls: AtomicUsize,
    }

    impl Mutexes {
        fn new(flags: &Flags, keys: &[&'static str], batches: bool) -> Self {
            Mutexes { keys: keys.iter().map(|k| flags.of(k)).collect(), batches, batch_calls: AtomicUsize::new(0) }
        }
    }

    impl BatchMutex for Mutexes {
        type Guard = FlagGuard;
        fn batches(&self) -> bool {
            self.batches
        }
        async fn try_acquire_batch(&self, at: &[usize], _missing: &[bool]) -> Result<Vec<Option<FlagGuard>>> {
            self.batch_calls.fetch_add(1, Ordering::SeqCst);
            let mut taken = Vec::new();
            for &at in at {
                taken.push(self.keys[at].try_acquire().await?);
            }
            Ok(taken)
        }
        async fn try_acquire(&self, at: usize) -> Result<Option<FlagGuard>> {
            self.keys[at].try_acquire().await
        }
        async fn acquire(&self, at: usize) -> Result<FlagGuard> {
            self.keys[at].acquire().await
        }
        async fn release(&self, guards: Vec<(usize, FlagGuard)>) -> Result<()> {
            drop(guards);
            Ok(())
        }
    }

    /// A store shared by the runs of a test: key name to `(value, ct)`.
    type Store = Mutex<HashMap<&'static str, (u32, f64)>>;

    type Guards = Vec<(usize, FlagGuard)>;
    const NO_BG: Option<fn(Guards)> = None;

    fn ages() -> Ages {
        Ages { expiration: Some(10.0), stand_in: None }
    }

    fn first(store: &Store, keys: &[&'static str]) -> Vec<Option<Read<u32>>> {
        let store = store.lock().unwrap();
        keys.iter().map(|k| store.get(k).map(|&(v, ct)| Read::at(v, ct))).collect()
    }

    /// Runs one batch over `keys` with a creator that stores `100 + position` and counts the
    /// keys it was asked for in `created`.
    async fn run(
        flags: &Flags,
        store: &Store,
        clock: &MockClock,
        keys: &[&'static str],
        batches: bool,
        created: &Mutex<Vec<&'static str>>,
    ) -> Vec<(u32, Outcome)> {
        let mutex = Mutexes::new(flags, keys, batches);
        let lock = BatchLock { mutex: &mutex, ages: ages(), clock, fail_safe: None };
        let read = |at: Vec<usize>| async move {
            let store = store.lock().unwrap();
            Ok(at.iter().map(|&at| store.get(keys[at]).map(|&(v, ct)| Read::at(v, ct))).collect())
        };
        let create = |at: Vec<usize>| async move {
            tokio::task::yield_now().await;
            let now = clock.now();
            let mut store = store.lock().unwrap();
            created.lock().unwrap().extend(at.iter().map(|&at| keys[at]));
            Ok(at
                .iter()
                .map(|&at| {
                    store.insert(keys[at], (100 + at as u32, now));
                    Read::at(100 + at as u32, now)
                })
                .collect())
        };
        let served = lock.enter_after(first(store, keys), read, create, NO_BG).await.unwrap();
        served.into_iter().map(|s| s.map(|(read, outcome)| (read.value, outcome)).unwrap()).collect()
    }

    #[tokio::test]
    async fn all_fresh_takes_no_mutex() {
        for batches in [false, true] {
            let (flags, clock, created) = (Flags::default(), MockClock::new(100.0), Mutex::new(Vec::new()));
            let store = Mutex::new(HashMap::from([("a", (1, 95.0)), ("b", (2, 99.0))]));
            let got = run(&flags, &store, &clock, &["a", "b"], batches, &created).await;
            assert_eq!(got, [(1, Outcome::Fresh), (2, Outcome::Fresh)]);
            assert!(created.lock().unwrap().is_empty());
            assert_eq!(flags.of("a").acquisitions.load(Ordering::SeqCst), 0);
        }
    }

    #[tokio::test]
    async fn missing_and_expired_keys_are_created_in_one_call_and_released() {
        for batches in [false, true] {
            let (flags, clock, created) = (Flags::default(), MockClock::new(100.0), Mutex::new(Vec::new()));
            let store = Mutex::new(HashMap::from([("a", (1, 95.0)), ("b", (2, 50.0))]));
            let got = run(&flags, &store, &clock, &["a", "b", "c"], batches, &created).await;
            assert_eq!(got, [(1, Outcome::Fresh), (101, Outcome::Created), (102, Outcome::Created)]);
            assert_eq!(*created.lock().unwrap(), ["b", "c"]);
            assert!(!flags.of("b").is_held() && !flags.of("c").is_held());
        }
    }

    #[tokio::test]
    async fn an_expired_key_held_elsewhere_serves_it_and_the_expired_keys_after_it_stale() {
        for batches in [false, true] {
            let (flags, clock, created) = (Flags::default(), MockClock::new(100.0), Mutex::new(Vec::new()));
            let store = Mutex::new(HashMap::from([("a", (1, 50.0)), ("b", (2, 50.0)), ("c", (3, 50.0))]));
            let elsewhere = flags.of("b").try_acquire().await.unwrap().unwrap();
            let got = run(&flags, &store, &clock, &["a", "b", "c"], batches, &created).await;
            // `a` comes before the busy key: this caller regenerates it.
            assert_eq!(got, [(100, Outcome::Created), (2, Outcome::Stale), (3, Outcome::Stale)]);
            assert_eq!(*created.lock().unwrap(), ["a"]);
            assert!(!flags.of("a").is_held() && !flags.of("c").is_held(), "no lock kept");
            drop(elsewhere);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_key_held_elsewhere_is_waited_for_and_read_not_created() {
        for batches in [false, true] {
            let (flags, clock, created) = (Flags::default(), MockClock::new(100.0), Mutex::new(Vec::new()));
            let store = Mutex::new(HashMap::new());
            let holder = flags.of("b").try_acquire().await.unwrap().unwrap();
            let (got, ()) = tokio::join!(run(&flags, &store, &clock, &["a", "b", "c"], batches, &created), async {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                store.lock().unwrap().insert("b", (7, 100.0));
                drop(holder);
            });
            assert_eq!(got, [(100, Outcome::Created), (7, Outcome::AfterWait), (102, Outcome::Created)]);
            assert_eq!(*created.lock().unwrap(), ["a", "c"], "b was read after the wait, not created");
            assert!(["a", "b", "c"].iter().all(|k| !flags.of(k).is_held()));
        }
    }

    #[tokio::test]
    async fn batched_locks_after_a_busy_missing_key_are_given_back_before_waiting() {
        let (flags, clock) = (Flags::default(), MockClock::new(100.0));
        let holder = flags.of("a").try_acquire().await.unwrap().unwrap();
        let mutex = Mutexes::new(&flags, &["a", "b"], true);
        let lock = BatchLock { mutex: &mutex, ages: ages(), clock: &clock, fail_safe: None };
        let mut state = State {
            values: vec![None::<Read<u32>>, None],
            outcomes: vec![None; 2],
            waited: vec![false; 2],
            stand_down: vec![false; 2],
            defer_stale: false,
            held: Vec::<(usize, FlagGuard)>::new(),
            spare: Vec::new(),
        };
        let rest = lock.lock_together(&mut state, &[0, 1]).await.unwrap().to_vec();
        assert_eq!(rest, [0, 1], "both left to lock one by one");
        assert!(!flags.of("b").is_held(), "b's lock was given back");
        assert!(state.held.is_empty());
        drop(holder);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overlapping_batches_create_each_key_once_and_never_deadlock() {
        for batches in [false, true] {
            for _ in 0..50 {
                let (flags, clock, created) = (Flags::default(), MockClock::new(100.0), Mutex::new(Vec::new()));
                let store = Mutex::new(HashMap::new());
                let (one, two) = tokio::join!(
                    run(&flags, &store, &clock, &["a", "b", "c"], batches, &created),
                    run(&flags, &store, &clock, &["b", "c", "d"], batches, &created),
                );
                let mut created = created.into_inner().unwrap();
                created.sort();
                assert_eq!(created, ["a", "b", "c", "d"], "each key created once");
                // The shared keys have one value, whoever created it.
                assert_eq!((one[1].0, one[2].0), (two[0].0, two[1].0));
            }
        }
    }

    #[tokio::test]
    async fn background_takes_the_locks_when_every_key_to_create_has_a_value() {
        let (flags, clock) = (Flags::default(), MockClock::new(100.0));
        let mutex = Mutexes::new(&flags, &["a", "b"], false);
        let lock = BatchLock { mutex: &mutex, ages: ages(), clock: &clock, fail_safe: None };
        let handed = Mutex::new(Vec::new());
        let first = vec![Some(Read::at(1, 50.0)), Some(Read::at(2, 99.0))];
        let read = |at: Vec<usize>| async move { Ok(at.iter().map(|_| Some(Read::at(1, 50.0))).collect()) };
        let create = |_: Vec<usize>| async { panic!("created in the background") as Result<Vec<Read<u32>>> };
        let background = |guards: Guards| handed.lock().unwrap().extend(guards);
        let got = lock.enter_after(first, read, create, Some(background)).await.unwrap();
        let got: Vec<_> = got.into_iter().map(|s| s.map(|(r, o)| (r.value, o)).unwrap()).collect();
        assert_eq!(got, [(1, Outcome::StaleBackground), (2, Outcome::Fresh)]);
        assert!(flags.of("a").is_held(), "the background holds a's lock");
        handed.lock().unwrap().clear();
        assert!(!flags.of("a").is_held());
    }

    #[tokio::test]
    async fn fail_safe_serves_a_failed_batch_only_when_every_key_may_stand_in() {
        let (flags, clock) = (Flags::default(), MockClock::new(100.0));
        let suppressed = Mutex::new(Vec::new());
        let keep =
            |err: Error, at: &[usize]| suppressed.lock().unwrap().push((err.to_string().contains("boom"), at.to_vec()));
        let never = |_: usize| false;
        let mutex = Mutexes::new(&flags, &["a", "b"], false);
        let lock = BatchLock {
            mutex: &mutex,
            ages: Ages { expiration: Some(10.0), stand_in: Some(60.0) },
            clock: &clock,
            fail_safe: Some(BatchFailSafe { throttled: &never, suppressed: &keep }),
        };
        let fail = |_: Vec<usize>| async { Err::<Vec<Read<u32>>, _>(Error::codec("boom")) };
        let reread = |first: Vec<Option<Read<u32>>>| {
            move |at: Vec<usize>| {
                let first = first.clone();
                async move { Ok(at.iter().map(|&at| first[at].clone()).collect()) }
            }
        };
        let young = vec![Some(Read::at(1, 50.0)), Some(Read::at(2, 60.0))];
        let got = lock.enter_after(young.clone(), reread(young), fail, NO_BG).await.unwrap();
        let got: Vec<_> = got.into_iter().map(|s| s.map(|(r, o)| (r.value, o)).unwrap()).collect();
        assert_eq!(got, [(1, Outcome::FailSafe), (2, Outcome::FailSafe)]);
        assert_eq!(suppressed.lock().unwrap().clone(), [(true, vec![0, 1])]);
        let one_too_old = vec![Some(Read::at(1, 50.0)), Some(Read::at(2, 30.0))];
        assert!(lock.enter_after(one_too_old.clone(), reread(one_too_old), fail, NO_BG).await.is_err());
        assert!(!flags.of("a").is_held() && !flags.of("b").is_held());
    }
}
